"""Fixtures for warehouse tests: a fresh warehouse file per test, and the same warehouse
on either backend (``any_warehouse``) for the tests that hold on both."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tg_pipeline.warehouse import Warehouse
from tg_pipeline.warehouse.pg import PgWarehouse
from tg_pipeline_tests.pg_warehouse import fresh_schema, fresh_warehouse_database

AnyWarehouse = Warehouse | PgWarehouse
Opener = Callable[..., contextlib.AbstractContextManager[AnyWarehouse]]


@pytest.fixture
def warehouse_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "warehouse.duckdb"


@pytest.fixture
def warehouse(warehouse_path: Path) -> Iterator[Warehouse]:
    with Warehouse.open(warehouse_path) as opened:
        yield opened


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """One fresh database on the local PostgreSQL server for the whole session."""
    with fresh_warehouse_database() as url:
        yield url


@pytest.fixture
def pg_url(pg_database: str) -> Iterator[str]:
    """A warehouse URL of its own for one test (a fresh schema)."""
    with fresh_schema(pg_database) as url:
        yield url


@pytest.fixture(params=["duckdb", "postgres"])
def open_any(request: pytest.FixtureRequest, warehouse_path: Path) -> Opener:
    """Opens this test's warehouse on the parametrized backend (again and again)."""
    if request.param == "duckdb":
        return lambda read_only=False: Warehouse.open(warehouse_path, read_only=read_only)
    url = request.getfixturevalue("pg_url")
    return lambda read_only=False: PgWarehouse.open(url, read_only=read_only)


@pytest.fixture
def any_warehouse(open_any: Opener) -> Iterator[AnyWarehouse]:
    with open_any() as opened:
        yield opened
