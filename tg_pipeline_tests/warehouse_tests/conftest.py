"""Fixtures for warehouse tests: a fresh warehouse file per test, and the same warehouse
on either backend (``any_warehouse``, ``open_any``) for the tests that hold on both
(PostgreSQL: a fresh schema of the session's database, see the top-level conftest)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tg_pipeline.warehouse import Warehouse
from tg_pipeline.warehouse.pg import PgWarehouse
from tg_pipeline_tests.pg_warehouse import fresh_schema

AnyWarehouse = Warehouse | PgWarehouse


class Opener:
    """Opens this test's warehouses on one backend, again and again: ``name`` picks one of
    several independent warehouses (a file each on DuckDB, a schema each on PostgreSQL)."""

    def __init__(self, backend: str, root: Path, pg_database: str | None) -> None:
        self.backend = backend
        self._root = root
        self._pg_database = pg_database
        self._urls: dict[str, str] = {}
        self._schemas = contextlib.ExitStack()

    @property
    def postgres(self) -> bool:
        return self.backend == "postgres"

    def __call__(
        self, read_only: bool = False, *, name: str = "warehouse"
    ) -> contextlib.AbstractContextManager[AnyWarehouse]:
        if self._pg_database is None:
            return Warehouse.open(self._root / f"{name}.duckdb", read_only=read_only)
        if name not in self._urls:
            self._urls[name] = self._schemas.enter_context(fresh_schema(self._pg_database))
        return PgWarehouse.open(self._urls[name], read_only=read_only)

    def close(self) -> None:
        self._schemas.close()


@pytest.fixture
def warehouse_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "warehouse.duckdb"


@pytest.fixture
def warehouse(warehouse_path: Path) -> Iterator[Warehouse]:
    with Warehouse.open(warehouse_path) as opened:
        yield opened


@pytest.fixture(params=["duckdb", "postgres"])
def open_any(request: pytest.FixtureRequest, warehouse_path: Path) -> Iterator[Opener]:
    """Opens this test's warehouse on the parametrized backend (again and again)."""
    database = request.getfixturevalue("pg_database") if request.param == "postgres" else None
    opener = Opener(request.param, warehouse_path.parent, database)
    try:
        yield opener
    finally:
        opener.close()


@pytest.fixture
def any_warehouse(open_any: Opener) -> Iterator[AnyWarehouse]:
    with open_any() as opened:
        yield opened
