"""A fresh PostgreSQL database per test session for the warehouse, on the local server,
a fresh schema in it per test, and the choice of backend for tests that run on both."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qs, quote, urlsplit

import psycopg2
import pytest

from tg_pipeline_tests.deploy_tests.postgres import HOST, PORT, _admin_connection


@contextlib.contextmanager
def fresh_warehouse_database() -> Iterator[str]:
    """The URL of a new database, dropped (its sessions ended) when the block ends.
    Skips when no server answers, fails in CI (see ``_admin_connection``)."""
    con, user = _admin_connection()
    name = f"tg_warehouse_{uuid.uuid4().hex[:12]}"
    with con.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://{user}@{HOST}:{PORT}/{name}"
    finally:
        with con.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        con.close()


@contextlib.contextmanager
def fresh_schema(database_url: str) -> Iterator[str]:
    """A URL whose sessions work in a new, empty schema of ``database_url``'s database."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    con = psycopg2.connect(database_url)
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{database_url}?options={quote(f'-csearch_path={schema}')}"
    finally:
        with con.cursor() as cur:
            cur.execute(f'DROP SCHEMA "{schema}" CASCADE')
        con.close()


def schema_of(url: str) -> str:
    """The schema a :func:`fresh_schema` URL works in."""
    options = parse_qs(urlsplit(url).query)["options"][0]
    return options.removeprefix("-csearch_path=")


@contextlib.contextmanager
def schema_copy(url: str) -> Iterator[str]:
    """A fresh schema holding a copy of every table of ``url``'s schema (a warehouse a
    test may change without changing the one it was copied from)."""
    database = url.split("?", 1)[0]
    source = schema_of(url)
    with fresh_schema(database) as copy_url:
        target = schema_of(copy_url)
        con = psycopg2.connect(database)
        try:
            with con, con.cursor() as cur:
                cur.execute(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = %s AND table_type = 'BASE TABLE'",
                    (source,),
                )
                for (table,) in cur.fetchall():
                    cur.execute(
                        f'CREATE TABLE "{target}"."{table}" '
                        f'(LIKE "{source}"."{table}" INCLUDING ALL)'
                    )
                    cur.execute(
                        f'INSERT INTO "{target}"."{table}" SELECT * FROM "{source}"."{table}"'
                    )
        finally:
            con.close()
        yield copy_url


#: The warehouse backends a test can run on.
BACKENDS = ("duckdb", "postgres")


def on_both_backends(*fixtures: str) -> pytest.MarkDecorator:
    """Run the test once per backend, with ``fixtures`` built on it: each reads its
    backend with :func:`backend_of`."""
    if len(fixtures) == 1:
        return pytest.mark.parametrize(fixtures[0], BACKENDS, indirect=True)
    return pytest.mark.parametrize(
        fixtures, [(b,) * len(fixtures) for b in BACKENDS], indirect=True, ids=BACKENDS
    )


def backend_of(request: pytest.FixtureRequest) -> str:
    """The backend :func:`on_both_backends` gave this fixture; DuckDB when none was."""
    return str(getattr(request, "param", "duckdb"))
