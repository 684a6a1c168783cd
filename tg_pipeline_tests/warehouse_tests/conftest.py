"""Fixtures for warehouse tests: a fresh warehouse file per test, and the same warehouse
on either backend (``any_warehouse``) for the tests that hold on both (PostgreSQL: the
``pg_url`` fixture of the top-level conftest)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tg_pipeline.warehouse import Warehouse
from tg_pipeline.warehouse.pg import PgWarehouse

AnyWarehouse = Warehouse | PgWarehouse
Opener = Callable[..., contextlib.AbstractContextManager[AnyWarehouse]]


@pytest.fixture
def warehouse_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "warehouse.duckdb"


@pytest.fixture
def warehouse(warehouse_path: Path) -> Iterator[Warehouse]:
    with Warehouse.open(warehouse_path) as opened:
        yield opened


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
