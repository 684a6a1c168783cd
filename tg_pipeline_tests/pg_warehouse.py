"""A fresh PostgreSQL database per test session for the warehouse, on the local server,
and a fresh schema in it per test."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import psycopg2

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
