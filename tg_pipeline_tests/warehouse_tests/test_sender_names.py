"""Sender names: one sender with the history of its names."""

from __future__ import annotations

from tg_pipeline.warehouse import Warehouse
from tg_pipeline_tests.warehouse_tests.builders import (
    batches,
    dump,
    json_row,
)


def test_renamed_sender_stays_one_sender_with_history(warehouse: Warehouse) -> None:
    early = [json_row(i, sender_id="user7", sender_name="Old Name") for i in range(1, 3)]
    late = [json_row(i, sender_id="user7", sender_name="New Name") for i in range(3, 5)]
    warehouse.ingest(batches(early), dump=dump("early"))
    warehouse.ingest(batches(late), dump=dump("late"))

    assert warehouse.con.execute(
        "SELECT sender_key, name FROM senders WHERE sender_id = 'user7'"
    ).fetchall() == [("user7", "New Name")]
    history = warehouse.con.execute(
        "SELECT name, epoch(first_seen)::BIGINT, epoch(last_seen)::BIGINT FROM sender_names "
        "WHERE sender_key = 'user7' ORDER BY first_seen"
    ).fetchall()
    assert [name for name, _, _ in history] == ["Old Name", "New Name"]
    assert history[0][1] == json_row(1)["sent_at"] and history[1][2] == json_row(4)["sent_at"]
    counts = {c.sender_key: c for c in warehouse.refresh_counts()}
    assert counts["user7"].message_count == 4 and counts["user7"].sender_name == "New Name"
