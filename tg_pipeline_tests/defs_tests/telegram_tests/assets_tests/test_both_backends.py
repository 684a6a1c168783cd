"""The telegram assets and checks materialized on either warehouse backend, DuckDB or
PostgreSQL (``warehouse_url``), with the same outcome."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from tg_pipeline.defs.shared.settings import PipelineSettings
from tg_pipeline.warehouse import MessageFilter
from tg_pipeline_tests.dagster_harness import (
    backup,
    check_results,
    definitions_for,
    ingest,
    materialization_metadata,
)
from tg_pipeline_tests.pg_warehouse import on_both_backends


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test(overrides={"concurrency": {"pools": {"default_limit": 1}}}) as inst:
        yield inst


@on_both_backends("settings")
def test_seed_pair_ingests_counts_and_backs_up(
    seed_dir: Path, instance: dg.DagsterInstance, settings: PipelineSettings
) -> None:
    defs = definitions_for(settings)
    first = ingest(instance, defs, seed_dir / "messages.html")
    second = ingest(instance, defs, seed_dir / "result.json")
    assert materialization_metadata(first, "messages")["new"] == 12
    meta = materialization_metadata(second, "messages")
    assert (meta["new"], meta["updated"] + meta["unchanged"]) == (0, 12)
    assert meta["dagster/row_count"] == 12
    assert all(c.passed for name, c in check_results(second).items() if "reply" not in name)

    made = backup(instance, defs)
    checks = check_results(made)
    assert checks and all(c.passed for c in checks.values()), checks

    target = settings.warehouse()
    assert target.on_postgres == bool(settings.warehouse_url)
    assert (settings.paths().warehouse.exists()) != target.on_postgres
    with target.open(read_only=True) as warehouse:
        counts = warehouse.row_counts()
        assert (counts["messages"], counts["chats"]) == (12, 1)
        assert sum(c["message_count"] for c in warehouse.counts().to_pylist()) == 10
        assert warehouse.count_messages(MessageFilter(kind="service")) == 2
