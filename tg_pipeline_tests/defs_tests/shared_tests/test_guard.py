"""A run's hold on the warehouse: counts left stale by a crash are healed when it starts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from tg_pipeline.defs.shared.guard import WarehouseGuard
from tg_pipeline.defs.telegram.checks import user_message_counts_match_messages
from tg_pipeline.warehouse import Warehouse
from tg_pipeline_tests.dagster_harness import backup, definitions_for, ingest, make_settings
from tg_pipeline_tests.warehouse_tests.builders import batches, dump, json_row


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test(overrides={"concurrency": {"pools": {"default_limit": 1}}}) as inst:
        yield inst


def test_counts_left_stale_by_a_crash_heal_at_the_next_run(
    instance: dg.DagsterInstance, seed_dir: Path, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path / "data")
    defs = definitions_for(settings)
    paths = settings.paths()
    assert ingest(instance, defs, seed_dir / "result.json").success

    # What a run killed between its messages commit and its counts step leaves behind.
    rows = [json_row(i, chat_id=77, sender_id="user5", sender_name="Eve") for i in range(1, 4)]
    with Warehouse.open(paths.warehouse) as warehouse:
        warehouse.ingest(batches(rows), dump=dump("crashed-dump"))
        assert warehouse.counts_stale()
        assert warehouse.counts_mismatch() > 0

    # The check never calls stale counts a success.
    guard = WarehouseGuard(run_id="direct", paths=paths)
    stale = user_message_counts_match_messages(settings=settings, warehouse_guard=guard)
    assert not stale.passed

    # The next run of anything that touches the warehouse (a backup here) heals them.
    result = backup(instance, defs)
    assert result.success
    with Warehouse.open(paths.warehouse, read_only=True) as warehouse:
        assert not warehouse.counts_stale()
        assert warehouse.counts_mismatch() == 0
    healed = [
        record.event_log_entry.user_message
        for record in instance.get_records_for_run(result.run_id).records
        if "counts were stale" in (record.event_log_entry.user_message or "")
    ]
    assert len(healed) == 1
