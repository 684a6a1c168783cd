"""The one upsert: identity rules, idempotence, edits, atomicity; on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from tg_pipeline.errors import TgPipelineError
from tg_pipeline.readers.html_export import read_html_export
from tg_pipeline.readers.json_export import read_json_export
from tg_pipeline.records import ReadOptions
from tg_pipeline.warehouse import Warehouse
from tg_pipeline_tests.warehouse_tests.builders import (
    batches,
    dump,
    html_row,
    json_row,
    record_rows,
    snapshot,
    sql,
)
from tg_pipeline_tests.warehouse_tests.conftest import AnyWarehouse, Opener

SEED_CHAT_ID = 1124496986


def _seed(kind: str, seed_dir: Path) -> Iterator[pa.RecordBatch]:
    if kind == "json":
        return read_json_export(seed_dir / "result.json", ReadOptions())
    return read_html_export([seed_dir / "messages.html"], ReadOptions())


@pytest.mark.parametrize("order", [("html", "json"), ("json", "html")])
def test_seed_pair_in_either_order_is_one_chat_of_12(
    any_warehouse: AnyWarehouse, seed_dir: Path, order: tuple[str, str]
) -> None:
    first = any_warehouse.ingest(_seed(order[0], seed_dir), dump=dump("first"))
    second = any_warehouse.ingest(_seed(order[1], seed_dir), dump=dump("second"))

    assert first.new == 12 and first.rows == 12
    assert second.new == 0 and second.rows == 12
    chats = any_warehouse.chats().to_pylist()
    # 12 entries: 10 messages and 2 service entries.
    assert [
        (c["chat_id"], c["message_count"], c["service_count"], c["is_surrogate"]) for c in chats
    ] == [(SEED_CHAT_ID, 10, 2, False)]
    assert sorted(chats[0]["dumps"]) == ["first", "second"]
    stored = sql(
        any_warehouse,
        "SELECT count(*), count(DISTINCT message_id), min(message_id), max(message_id), "
        "bool_and(time_source = 'unixtime') FROM messages",
    )
    assert stored == [(12, 12, 182649, 182660, True)]  # the JSON versions won
    # The hand-renamed sender of 182651 is one sender with both names in its history.
    assert sql(
        any_warehouse,
        "SELECT name FROM sender_names WHERE sender_key = 'user496709216' ORDER BY name",
    ) == [("user1",), ("username1",)]
    assert sql(any_warehouse, "SELECT name FROM senders WHERE sender_key = 'user496709216'") == [
        ("user1",)
    ]
    assert not sql(any_warehouse, "SELECT * FROM senders WHERE sender_key LIKE 'name:%'")


def test_seed_pair_orders_end_in_the_same_tables(open_any: Opener, seed_dir: Path) -> None:
    ends = []
    for order in (("html", "json"), ("json", "html")):
        with open_any(name="-".join(order)) as warehouse:
            for kind in order:
                warehouse.ingest(_seed(kind, seed_dir), dump=dump(kind))
            warehouse.refresh_counts()
            ends.append(
                (
                    record_rows(warehouse),
                    sql(
                        warehouse,
                        "SELECT chat_id, sender_key, sender_name, message_count "
                        "FROM user_message_counts ORDER BY 1, 2, 3, 4",
                    ),
                    sql(warehouse, "SELECT sender_key, name FROM sender_names ORDER BY 1, 2"),
                )
            )
    assert ends[0] == ends[1]


@pytest.mark.parametrize("recognise", [True, False])
def test_reingesting_a_dump_changes_nothing(
    any_warehouse: AnyWarehouse, seed_dir: Path, recognise: bool
) -> None:
    any_warehouse.ingest(_seed("html", seed_dir), dump=dump("h"))
    any_warehouse.ingest(_seed("json", seed_dir), dump=dump("j"))
    any_warehouse.refresh_counts()
    before = snapshot(any_warehouse)

    again = any_warehouse.ingest(
        _seed("json", seed_dir), dump=dump("j"), recognise_unchanged=recognise
    )
    html_again = any_warehouse.ingest(
        _seed("html", seed_dir), dump=dump("h"), recognise_unchanged=recognise
    )

    assert (again.new, again.updated, again.unchanged) == (0, 0, 12)
    assert (html_again.new, html_again.updated, html_again.unchanged) == (0, 0, 12)
    assert any_warehouse.refresh_counts() == []
    assert snapshot(any_warehouse) == before


def test_overlapping_newer_export_adds_new_and_updates_edited(any_warehouse: AnyWarehouse) -> None:
    old = [json_row(i) for i in range(1, 6)]
    newer = [json_row(i) for i in range(3, 9)]
    newer[1] = json_row(4, text="message 4, fixed", edited_at=json_row(4)["sent_at"] + 60)

    any_warehouse.ingest(batches(old), dump=dump("old"))
    result = any_warehouse.ingest(batches(newer), dump=dump("newer"))

    assert (result.new, result.updated, result.unchanged, result.rows) == (3, 1, 2, 6)
    texts = dict(sql(any_warehouse, "SELECT message_id, text FROM messages"))
    assert texts[4] == "message 4, fixed"
    assert sorted(texts) == list(range(1, 9))

    # The older export again does not undo the edit.
    back = any_warehouse.ingest(batches(old), dump=dump("old-again"))
    assert (back.new, back.updated) == (0, 0)
    assert sql(any_warehouse, "SELECT text FROM messages WHERE message_id = 4") == [
        ("message 4, fixed",)
    ]


def test_a_value_too_big_for_the_memory_limit_names_the_file_and_the_cause(
    warehouse_path: Path,
) -> None:
    """DuckDB only: its memory limit (TG_DUCKDB_MEMORY_LIMIT) has no PostgreSQL peer."""
    with Warehouse.open(warehouse_path, memory_limit="8MB") as warehouse:
        warehouse.ingest(batches([json_row(1)]), dump=dump("base"))
        before = snapshot(warehouse)
        with pytest.raises(TgPipelineError) as caught:
            huge = json_row(2, text="x" * 30_000_000)
            warehouse.ingest(batches([huge]), dump=dump("huge"))
        message = str(caught.value)
        assert str(warehouse_path) in message and "out of memory" in message
        assert "TG_DUCKDB_MEMORY_LIMIT" in message and "\n" not in message
        assert "rollback" not in message.lower()
        assert snapshot(warehouse) == before


BASE_EDIT = 1_700_000_000


def test_json_instant_wins_over_html(any_warehouse: AnyWarehouse) -> None:
    html = html_row(1, sent_at=BASE_EDIT + 3600, time_source="html_offset")
    json = json_row(1, sent_at=BASE_EDIT)
    any_warehouse.ingest(batches([json]), dump=dump("j"))
    result = any_warehouse.ingest(batches([html]), dump=dump("h"))

    assert result.updated == 0
    assert sql(
        any_warehouse, "SELECT CAST(extract(epoch FROM sent_at) AS BIGINT) FROM messages"
    ) == [(BASE_EDIT,)]


def test_counts_exclude_service_entries_and_report_only_changes(
    any_warehouse: AnyWarehouse,
) -> None:
    rows = [json_row(i, sender_id="user1", sender_name="A") for i in range(1, 5)]
    rows.append(json_row(5, kind="service", sender_id="user1", sender_name="A", action="pin"))
    any_warehouse.ingest(batches(rows), dump=dump("d"))

    changed = any_warehouse.refresh_counts()
    assert [(c.sender_key, c.message_count) for c in changed] == [("user1", 4)]
    assert any_warehouse.refresh_counts() == []
    assert any_warehouse.counts_mismatch() == 0

    any_warehouse.ingest(batches([json_row(9, sender_id="user2", sender_name="B")]), dump=dump("e"))
    assert [(c.sender_key, c.message_count) for c in any_warehouse.refresh_counts()] == [
        ("user2", 1)
    ]
    sql(any_warehouse, "UPDATE user_message_counts SET message_count = 99")
    assert any_warehouse.counts_mismatch() == 4


def test_integrity_checks(any_warehouse: AnyWarehouse) -> None:
    rows = [json_row(1), json_row(2, reply_to_message_id=1), json_row(3, reply_to_message_id=77)]
    any_warehouse.ingest(batches(rows), dump=dump("d"))

    assert any_warehouse.duplicate_keys() == 0
    assert any_warehouse.missing_reply_targets() == 1
    assert any_warehouse.row_counts()["messages"] == 3
    assert set(any_warehouse.table_schema("messages")) >= {"chat_id", "sender_key", "extra"}
    assert [r["message_id"] for r in any_warehouse.preview(2)] == [3, 2]
