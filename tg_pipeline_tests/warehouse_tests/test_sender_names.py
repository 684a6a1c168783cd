"""Sender names: one sender with the history of its names, on both backends."""

from __future__ import annotations

from tg_pipeline_tests.warehouse_tests.builders import (
    batches,
    dump,
    json_row,
    sql,
)
from tg_pipeline_tests.warehouse_tests.conftest import AnyWarehouse


def test_renamed_sender_stays_one_sender_with_history(any_warehouse: AnyWarehouse) -> None:
    early = [json_row(i, sender_id="user7", sender_name="Old Name") for i in range(1, 3)]
    late = [json_row(i, sender_id="user7", sender_name="New Name") for i in range(3, 5)]
    any_warehouse.ingest(batches(early), dump=dump("early"))
    any_warehouse.ingest(batches(late), dump=dump("late"))

    assert sql(any_warehouse, "SELECT sender_key, name FROM senders WHERE sender_id = 'user7'") == [
        ("user7", "New Name")
    ]
    history = sql(
        any_warehouse,
        "SELECT name, CAST(extract(epoch FROM first_seen) AS BIGINT), "
        "CAST(extract(epoch FROM last_seen) AS BIGINT) FROM sender_names "
        "WHERE sender_key = 'user7' ORDER BY first_seen",
    )
    assert [name for name, _, _ in history] == ["Old Name", "New Name"]
    assert history[0][1] == json_row(1)["sent_at"] and history[1][2] == json_row(4)["sent_at"]
    counts = {c.sender_key: c for c in any_warehouse.refresh_counts()}
    assert counts["user7"].message_count == 4 and counts["user7"].sender_name == "New Name"
