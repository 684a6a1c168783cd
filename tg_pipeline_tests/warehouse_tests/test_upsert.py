"""The one upsert: identity rules, idempotence, edits, atomicity."""

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
)

SEED_CHAT_ID = 1124496986


def _seed(kind: str, seed_dir: Path) -> Iterator[pa.RecordBatch]:
    if kind == "json":
        return read_json_export(seed_dir / "result.json", ReadOptions())
    return read_html_export([seed_dir / "messages.html"], ReadOptions())


@pytest.mark.parametrize("order", [("html", "json"), ("json", "html")])
def test_seed_pair_in_either_order_is_one_chat_of_12(
    warehouse: Warehouse, seed_dir: Path, order: tuple[str, str]
) -> None:
    first = warehouse.ingest(_seed(order[0], seed_dir), dump=dump("first"))
    second = warehouse.ingest(_seed(order[1], seed_dir), dump=dump("second"))

    assert first.new == 12 and first.rows == 12
    assert second.new == 0 and second.rows == 12
    chats = warehouse.chats().to_pylist()
    # 12 entries: 10 messages and 2 service entries.
    assert [
        (c["chat_id"], c["message_count"], c["service_count"], c["is_surrogate"]) for c in chats
    ] == [(SEED_CHAT_ID, 10, 2, False)]
    assert sorted(chats[0]["dumps"]) == ["first", "second"]
    stored = warehouse.con.execute(
        "SELECT count(*), count(DISTINCT message_id), min(message_id), max(message_id), "
        "bool_and(time_source = 'unixtime') FROM messages"
    ).fetchone()
    assert stored == (12, 12, 182649, 182660, True)  # the JSON versions won
    # The hand-renamed sender of 182651 is one sender with both names in its history.
    assert warehouse.con.execute(
        "SELECT name FROM sender_names WHERE sender_key = 'user496709216' ORDER BY name"
    ).fetchall() == [("user1",), ("username1",)]
    assert warehouse.con.execute(
        "SELECT name FROM senders WHERE sender_key = 'user496709216'"
    ).fetchall() == [("user1",)]
    assert not warehouse.con.execute(
        "SELECT * FROM senders WHERE sender_key LIKE 'name:%'"
    ).fetchall()


def test_seed_pair_orders_end_in_the_same_tables(tmp_path: Path, seed_dir: Path) -> None:
    ends = []
    for order in (("html", "json"), ("json", "html")):
        with Warehouse.open(tmp_path / f"{'-'.join(order)}.duckdb") as warehouse:
            for kind in order:
                warehouse.ingest(_seed(kind, seed_dir), dump=dump(kind))
            warehouse.refresh_counts()
            ends.append(
                (
                    record_rows(warehouse),
                    warehouse.con.execute(
                        "SELECT chat_id, sender_key, sender_name, message_count "
                        "FROM user_message_counts ORDER BY ALL"
                    ).fetchall(),
                    warehouse.con.execute(
                        "SELECT sender_key, name FROM sender_names ORDER BY ALL"
                    ).fetchall(),
                )
            )
    assert ends[0] == ends[1]


@pytest.mark.parametrize("recognise", [True, False])
def test_reingesting_a_dump_changes_nothing(
    warehouse: Warehouse, seed_dir: Path, recognise: bool
) -> None:
    warehouse.ingest(_seed("html", seed_dir), dump=dump("h"))
    warehouse.ingest(_seed("json", seed_dir), dump=dump("j"))
    warehouse.refresh_counts()
    before = snapshot(warehouse)

    again = warehouse.ingest(_seed("json", seed_dir), dump=dump("j"), recognise_unchanged=recognise)
    html_again = warehouse.ingest(
        _seed("html", seed_dir), dump=dump("h"), recognise_unchanged=recognise
    )

    assert (again.new, again.updated, again.unchanged) == (0, 0, 12)
    assert (html_again.new, html_again.updated, html_again.unchanged) == (0, 0, 12)
    assert warehouse.refresh_counts() == []
    assert snapshot(warehouse) == before


def test_overlapping_newer_export_adds_new_and_updates_edited(warehouse: Warehouse) -> None:
    old = [json_row(i) for i in range(1, 6)]
    newer = [json_row(i) for i in range(3, 9)]
    newer[1] = json_row(4, text="message 4, fixed", edited_at=json_row(4)["sent_at"] + 60)

    warehouse.ingest(batches(old), dump=dump("old"))
    result = warehouse.ingest(batches(newer), dump=dump("newer"))

    assert (result.new, result.updated, result.unchanged, result.rows) == (3, 1, 2, 6)
    texts = dict(warehouse.con.execute("SELECT message_id, text FROM messages").fetchall())
    assert texts[4] == "message 4, fixed"
    assert sorted(texts) == list(range(1, 9))

    # The older export again does not undo the edit.
    back = warehouse.ingest(batches(old), dump=dump("old-again"))
    assert (back.new, back.updated) == (0, 0)
    assert warehouse.con.execute("SELECT text FROM messages WHERE message_id = 4").fetchone() == (
        "message 4, fixed",
    )


def test_a_value_too_big_for_the_memory_limit_names_the_file_and_the_cause(
    warehouse_path: Path,
) -> None:
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


def test_json_instant_wins_over_html(warehouse: Warehouse) -> None:
    html = html_row(1, sent_at=BASE_EDIT + 3600, time_source="html_offset")
    json = json_row(1, sent_at=BASE_EDIT)
    warehouse.ingest(batches([json]), dump=dump("j"))
    result = warehouse.ingest(batches([html]), dump=dump("h"))

    assert result.updated == 0
    assert warehouse.con.execute("SELECT epoch(sent_at)::BIGINT FROM messages").fetchone() == (
        BASE_EDIT,
    )


def test_counts_exclude_service_entries_and_report_only_changes(warehouse: Warehouse) -> None:
    rows = [json_row(i, sender_id="user1", sender_name="A") for i in range(1, 5)]
    rows.append(json_row(5, kind="service", sender_id="user1", sender_name="A", action="pin"))
    warehouse.ingest(batches(rows), dump=dump("d"))

    changed = warehouse.refresh_counts()
    assert [(c.sender_key, c.message_count) for c in changed] == [("user1", 4)]
    assert warehouse.refresh_counts() == []
    assert warehouse.counts_mismatch() == 0

    warehouse.ingest(batches([json_row(9, sender_id="user2", sender_name="B")]), dump=dump("e"))
    assert [(c.sender_key, c.message_count) for c in warehouse.refresh_counts()] == [("user2", 1)]
    warehouse.con.execute("UPDATE user_message_counts SET message_count = 99")
    assert warehouse.counts_mismatch() == 4


def test_integrity_checks(warehouse: Warehouse) -> None:
    rows = [json_row(1), json_row(2, reply_to_message_id=1), json_row(3, reply_to_message_id=77)]
    warehouse.ingest(batches(rows), dump=dump("d"))

    assert warehouse.duplicate_keys() == 0
    assert warehouse.missing_reply_targets() == 1
    assert warehouse.row_counts()["messages"] == 3
    assert set(warehouse.table_schema("messages")) >= {"chat_id", "sender_key", "extra"}
    assert [r["message_id"] for r in warehouse.preview(2)] == [3, 2]
