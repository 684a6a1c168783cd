"""A fresh PostgreSQL database per test run on the machine's local server."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg2
import pytest

HOST = os.environ.get("TG_TEST_PG_HOST", "127.0.0.1")
PORT = int(os.environ.get("TG_TEST_PG_PORT", "5432"))
ADMIN_DB = os.environ.get("TG_TEST_PG_DB", "test")
USERS = [os.environ["TG_TEST_PG_USER"]] if "TG_TEST_PG_USER" in os.environ else ["postgres", "root"]


@dataclass(frozen=True)
class Database:
    host: str
    port: int
    user: str
    name: str

    def env(self) -> dict[str, str]:
        """The variables tg_pipeline/deploy/dagster.yaml reads."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USER": self.user,
            "DAGSTER_PG_PASSWORD": "",
            "DAGSTER_PG_DB": self.name,
        }


def _admin_connection() -> tuple[psycopg2.extensions.connection, str]:
    errors = []
    for user in USERS:
        try:
            con = psycopg2.connect(host=HOST, port=PORT, user=user, dbname=ADMIN_DB)
        except psycopg2.OperationalError as exc:
            errors.append(f"{user}: {exc}".strip())
            continue
        con.autocommit = True
        return con, user
    message = f"no PostgreSQL at {HOST}:{PORT}: {'; '.join(errors)}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@contextlib.contextmanager
def fresh_database() -> Iterator[Database]:
    con, user = _admin_connection()
    name = f"tg_deploy_{uuid.uuid4().hex[:12]}"
    with con.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield Database(HOST, PORT, user, name)
    finally:
        with con.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        con.close()
