"""The warehouse's rules on both backends: DuckDB and PostgreSQL give the same answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tg_pipeline.readers.backup import read_backup
from tg_pipeline.records import FIELD_NAMES, ReadOptions
from tg_pipeline.warehouse import MessageFilter, Warehouse
from tg_pipeline.warehouse.pg import PgWarehouse
from tg_pipeline_tests.warehouse_tests.builders import (
    batches,
    dump,
    fill_for_backup,
    html_row,
    json_row,
)
from tg_pipeline_tests.warehouse_tests.conftest import AnyWarehouse, Opener


def _records(w: AnyWarehouse) -> list[tuple[Any, ...]]:
    table = w.messages(MessageFilter(), limit=None)
    rows = table.select(list(FIELD_NAMES)).to_pylist()
    return sorted((tuple(r.values()) for r in rows), key=lambda r: (r[0], r[3]))


def test_ingest_then_reingest_changes_nothing(any_warehouse: AnyWarehouse) -> None:
    rows = [json_row(i) for i in range(1, 120)]
    first = any_warehouse.ingest(batches(rows, size=25), dump=dump("a"))
    assert (first.new, first.updated, first.rows) == (119, 0, 119)
    again = any_warehouse.ingest(batches(rows, size=25), dump=dump("a2"), recognise_unchanged=False)
    assert (again.new, again.updated, again.unchanged) == (0, 0, 119)
    known = any_warehouse.ingest(batches(rows), dump=dump("a"))
    assert (known.new, known.unchanged) == (0, 119)
    assert any_warehouse.row_counts()["messages"] == 119
    assert any_warehouse.duplicate_keys() == 0


def test_newest_edit_wins_and_older_never_overwrites(any_warehouse: AnyWarehouse) -> None:
    base = json_row(1)["sent_at"]
    any_warehouse.ingest(batches([json_row(1), json_row(2)]), dump=dump("v1"))
    newer = any_warehouse.ingest(
        batches([json_row(1, text="edited", edited_at=base + 100)]), dump=dump("v2")
    )
    assert (newer.updated, newer.new) == (1, 0)
    older = any_warehouse.ingest(
        batches([json_row(1, text="older edit", edited_at=base + 50)]), dump=dump("v3")
    )
    assert (older.updated, older.unchanged) == (0, 1)
    # Within one dump: the newest edit wins wherever it stands; the repeat is reported.
    within = any_warehouse.ingest(
        batches(
            [
                json_row(2, text="late", edited_at=base + 300),
                json_row(2, text="early", edited_at=base + 200),
            ]
        ),
        dump=dump("v4"),
    )
    assert (within.updated, within.duplicates) == (1, 1)
    assert (
        within.duplicates_shown and "message 2 of chat 1001 2 times" in within.duplicates_shown[0]
    )
    texts = {r[3]: r[10] for r in _records(any_warehouse)}
    assert texts == {1: "edited", 2: "late"}


def test_json_ids_beat_html_surrogates(any_warehouse: AnyWarehouse) -> None:
    html = any_warehouse.ingest(batches([html_row(i) for i in range(1, 30)]), dump=dump("h"))
    (surrogate,) = html.chats
    assert surrogate < 0
    js = any_warehouse.ingest(batches([json_row(i) for i in range(1, 40)]), dump=dump("j"))
    assert js.rekeyed == {surrogate: 1001}
    assert (js.new, js.updated) == (10, 29)
    chats = any_warehouse.chats().to_pylist()
    assert [(c["chat_id"], c["is_surrogate"], list(c["dumps"])) for c in chats] == [
        (1001, False, ["h", "j"])
    ]
    records = _records(any_warehouse)
    assert {r[7] for r in records} == {"unixtime"}
    assert {r[8] for r in records} == {"user100", "user101", "user102"}
    # A later HTML export of the chat joins the real chat and changes nothing.
    later = any_warehouse.ingest(batches([html_row(i) for i in range(1, 30)]), dump=dump("h2"))
    assert (later.chats, later.new, later.updated) == ([1001], 0, 0)


def test_counts_queries_and_delete(any_warehouse: AnyWarehouse) -> None:
    any_warehouse.ingest(batches([json_row(i) for i in range(1, 31)]), dump=dump("c"))
    any_warehouse.ingest(
        batches([json_row(i, chat_id=2002, chat_name="Other") for i in range(1, 7)]),
        dump=dump("d"),
    )
    assert any_warehouse.counts_stale()
    changed = any_warehouse.refresh_counts()
    assert len(changed) == 6
    assert not any_warehouse.counts_stale()
    assert any_warehouse.refresh_counts() == []
    assert any_warehouse.counts_mismatch() == 0
    counts = any_warehouse.counts("Team").to_pylist()
    assert [(c["sender_key"], c["message_count"]) for c in counts] == [
        ("user100", 10),
        ("user101", 10),
        ("user102", 10),
    ]
    assert any_warehouse.count_rows("counts", "2002") == 3
    assert any_warehouse.count_messages(MessageFilter(chat="other")) == 6
    assert any_warehouse.count_messages(MessageFilter(text="MESSAGE 1")) == 12
    assert any_warehouse.count_messages(MessageFilter(text="^message 2.$", regex=True)) == 10
    assert any_warehouse.count_messages(MessageFilter(sender="person 1")) == 12
    page = any_warehouse.messages(MessageFilter(chat="1001"), limit=3, offset=1, desc=True)
    assert page.column("message_id").to_pylist() == [29, 28, 27]
    gone = any_warehouse.delete_messages(MessageFilter(chat="Other"))
    assert gone.deleted == 6
    assert {c.chat_id for c in gone.count_changes} == {2002}
    assert all(c.message_count == 0 for c in gone.count_changes)
    # The deleted dump is read again, not recognised: its rows come back.
    back = any_warehouse.ingest(
        batches([json_row(i, chat_id=2002, chat_name="Other") for i in range(1, 7)]),
        dump=dump("d"),
    )
    assert back.new == 6
    everything = any_warehouse.delete_all()
    assert everything.deleted == 36
    assert any_warehouse.row_counts()["messages"] == 0
    assert any_warehouse.counts_mismatch() == 0


def test_reader_sees_committed_data(open_any: Opener) -> None:
    with open_any() as w:
        w.ingest(batches([json_row(i) for i in range(1, 11)]), dump=dump("r"))
        w.refresh_counts()
    with open_any(read_only=True) as reader:
        assert [c["message_count"] for c in reader.chats().to_pylist()] == [10]
        assert reader.count_rows("chats") == 1


def test_parquet_backup_from_postgres_restores_into_duckdb_and_back(
    pg_url: str, tmp_path: Path
) -> None:
    """A backup written from PostgreSQL restores into DuckDB, and DuckDB's backup of that
    restores into a new PostgreSQL schema: the same rows every way."""
    with PgWarehouse.open(pg_url) as pg:
        fill_for_backup(pg)
        original = _records(pg)
        made = pg.backup(tmp_path / "from_pg", fmt="parquet", row_group_size=64)
    assert made.rows == len(original) > 300
    with Warehouse.open(tmp_path / "restored.duckdb") as duck:
        restored = duck.ingest(read_backup(made.path, ReadOptions()), dump=dump("restore"))
        assert restored.new == len(original)
        assert _records(duck) == original
        again = duck.backup(tmp_path / "from_duck", fmt="parquet")
    with PgWarehouse.open(pg_url) as pg:
        pg.delete_all()
        back = pg.ingest(read_backup(again.path, ReadOptions()), dump=dump("back"))
        assert back.new == len(original)
        assert _records(pg) == original
        assert pg.duplicate_keys() == 0


def test_the_settings_choose_the_backend(pg_url: str, tmp_path: Path) -> None:
    from tg_pipeline.config import Settings

    duck = Settings.from_env({"TG_DATA_DIR": str(tmp_path)}).warehouse()
    pg = Settings.from_env({"TG_DATA_DIR": str(tmp_path), "TG_WAREHOUSE_URL": pg_url}).warehouse()
    assert duck.writers_take_turns and not pg.writers_take_turns
    with duck.open() as w:
        assert isinstance(w, Warehouse)
    with pg.open() as w:
        assert isinstance(w, PgWarehouse)
        w.ingest(batches([json_row(1)]), dump=dump("s"))
    with pg.open(read_only=True) as w:
        assert w.row_counts()["messages"] == 1


def test_audit_events_are_stored_once(any_warehouse: AnyWarehouse) -> None:
    events = [
        {"event_id": "e1", "event_type": "run_started", "occurred_at": "2024-01-01T00:00:00Z"},
        {"event_id": "e1", "event_type": "run_started"},
        {"event_id": "e2", "event_type": "run_failed", "schema_version": 1, "payload": {"x": 1}},
        {"event_type": "no id"},
    ]
    assert any_warehouse.store_audit_events(events) == 2
    assert any_warehouse.store_audit_events(events) == 0
    assert any_warehouse.row_counts()["audit_log"] == 2


def test_count_events_wait_until_queued(any_warehouse: AnyWarehouse) -> None:
    any_warehouse.ingest(batches([json_row(i) for i in range(1, 7)]), dump=dump("e"))
    any_warehouse.refresh_counts()
    pending = any_warehouse.pending_count_events()
    assert len(pending) == 3
    assert any_warehouse.count_events_queued(max(p.version for p in pending)) == 3
    assert any_warehouse.pending_count_events() == []


def test_a_backup_verifies_and_streamed_reads_match(
    any_warehouse: AnyWarehouse, tmp_path: Path
) -> None:
    fill_for_backup(any_warehouse)
    any_warehouse.refresh_counts()
    for fmt in ("parquet", "csv"):
        made = any_warehouse.backup(tmp_path / fmt, fmt=fmt)
        check = any_warehouse.verify_backup(made.path)
        assert check.ok, check.detail
        assert check.rows == made.rows
    streamed = any_warehouse.messages_reader(MessageFilter(), limit=None).read_all()
    assert streamed.num_rows == any_warehouse.row_counts()["messages"]
    assert any_warehouse.chats_reader(limit=2).read_all().num_rows == 2
    overall = any_warehouse.counts_reader(overall=True, limit=3).read_all()
    assert overall.num_rows == 3
    assert any_warehouse.missing_reply_targets() == 0
    assert len(any_warehouse.preview(3)) == 3
    assert "sent_at" in any_warehouse.table_schema("messages")
