"""Count events from warehouse state: pending changes go to the outbox once, and stay when
the outbox refuses them."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tg_pipeline.count_events import CountEventsNotQueued, queue_count_events
from tg_pipeline.events import OUTBOX_FILENAME, Outbox
from tg_pipeline.warehouse import MessageFilter, Warehouse
from tg_pipeline_tests.warehouse_tests.builders import batches, dump, json_row


def _queue(warehouse: Warehouse, data_dir: Path) -> int:
    return queue_count_events(warehouse, data_dir, run_id="r", job="ingest_job", dump=None)


def _counts_in_outbox(data_dir: Path) -> list[tuple[str, int]]:
    outbox = Outbox.in_data_dir(data_dir)
    events = [orjson.loads(row.value) for row in outbox.pending(limit=1000)]
    return [
        (e["sender_key"], e["message_count"]) for e in events if e["event_type"] == "user_count"
    ]


def test_pending_changes_go_out_once_and_a_count_back_at_an_old_value_goes_out_again(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    with Warehouse.open(data_dir / "warehouse.duckdb") as warehouse:
        warehouse.ingest(batches([json_row(1), json_row(4)]), dump=dump("d1"))
        warehouse.refresh_counts()
        assert len(warehouse.pending_count_events()) == 1  # user101 wrote both
        assert _queue(warehouse, data_dir) == 1
        assert warehouse.pending_count_events() == []
        assert _queue(warehouse, data_dir) == 0

        warehouse.delete_messages(MessageFilter(text="message 4"))
        assert _queue(warehouse, data_dir) == 1
        warehouse.ingest(batches([json_row(4)]), dump=dump("d2"))
        warehouse.refresh_counts()
        assert _queue(warehouse, data_dir) == 1

    # 2 → 1 → 2: the second 2 is a new event, not a repeat the outbox would drop.
    assert _counts_in_outbox(data_dir) == [("user101", 2), ("user101", 1), ("user101", 2)]


def test_a_refusing_outbox_leaves_the_changes_pending(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    (data_dir / OUTBOX_FILENAME).mkdir(parents=True)  # a directory where the file should be
    with Warehouse.open(data_dir / "warehouse.duckdb") as warehouse:
        warehouse.ingest(batches([json_row(1), json_row(2)]), dump=dump("d1"))
        warehouse.refresh_counts()
        with pytest.raises(CountEventsNotQueued, match="2 count events could not be written"):
            _queue(warehouse, data_dir)
        assert len(warehouse.pending_count_events()) == 2
        (data_dir / OUTBOX_FILENAME).rmdir()
        assert _queue(warehouse, data_dir) == 2
        assert warehouse.pending_count_events() == []
