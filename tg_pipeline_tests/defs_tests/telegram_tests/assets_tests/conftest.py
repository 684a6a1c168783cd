"""Fixtures for the asset tests: the pipeline's settings on one warehouse backend. A test
marked ``on_both_backends("settings")`` runs on DuckDB and on PostgreSQL (a fresh schema,
``pg_url``); any other runs on DuckDB."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tg_pipeline.defs.shared.settings import PipelineSettings
from tg_pipeline_tests.dagster_harness import make_settings
from tg_pipeline_tests.pg_warehouse import backend_of, fresh_schema


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> PipelineSettings:
    url = request.getfixturevalue("pg_url") if backend_of(request) == "postgres" else ""
    return make_settings(tmp_path / "data", warehouse_url=url)


@pytest.fixture
def settings_for(
    request: pytest.FixtureRequest, settings: PipelineSettings
) -> Iterator[Callable[[Path], PipelineSettings]]:
    """Settings under another data directory, with an empty warehouse of its own on the
    same backend as ``settings``."""
    database = request.getfixturevalue("pg_database") if settings.warehouse_url else None
    with contextlib.ExitStack() as schemas:

        def make(data_dir: Path) -> PipelineSettings:
            url = schemas.enter_context(fresh_schema(database)) if database else ""
            return make_settings(data_dir, warehouse_url=url)

        yield make
