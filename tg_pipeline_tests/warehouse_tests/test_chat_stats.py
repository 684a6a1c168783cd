"""The per-chat summary ``chat_stats`` stays equal to a fresh aggregate over ``messages``
after every kind of write, and ``chats`` reads it; on both backends."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tg_pipeline.readers.backup import read_backup
from tg_pipeline.records import ReadOptions
from tg_pipeline.warehouse import MessageFilter, surrogate_chat_id
from tg_pipeline.warehouse import rounds as duckdb_rounds
from tg_pipeline.warehouse.pg import PgWarehouse
from tg_pipeline.warehouse.pg import upsert as pg_upsert
from tg_pipeline_tests.warehouse_tests.builders import (
    BASE_TIME,
    assert_chat_stats_exact,
    batches,
    dump,
    fill_for_backup,
    html_row,
    json_row,
    snapshot,
    sql,
)
from tg_pipeline_tests.warehouse_tests.conftest import AnyWarehouse, Opener
from tg_pipeline_tests.warehouse_tests.pg_writer import held_ingest


def _at(message_id: int, shift: int = 0) -> datetime:
    """The instant :func:`json_row` gives ``message_id``, moved by ``shift`` seconds."""
    return datetime.fromtimestamp(BASE_TIME + message_id * 10 + shift, UTC)


def _listed(warehouse: AnyWarehouse) -> dict[int, tuple[Any, ...]]:
    """What ``chats`` shows per chat: counts, first and last message times."""
    return {
        c["chat_id"]: (
            c["message_count"],
            c["service_count"],
            c["first_message_at"],
            c["last_message_at"],
        )
        for c in warehouse.chats().to_pylist()
    }


def _side(message_id: int, **fields: Any) -> dict[str, Any]:
    return json_row(message_id, chat_id=2002, chat_name="Side Room", **fields)


def test_an_ingest_fills_the_summary_that_chats_lists(any_warehouse: AnyWarehouse) -> None:
    rows = [json_row(i) for i in range(1, 6)]
    rows += [json_row(6, kind="service", text="pinned"), _side(7), _side(8, kind="service")]
    rows += [_side(9, kind="service")]
    any_warehouse.ingest(batches(rows, size=3), dump=dump("d"))

    assert assert_chat_stats_exact(any_warehouse) == [
        (1001, 5, 1, _at(1), _at(5)),
        (2002, 1, 2, _at(7), _at(7)),
    ]
    assert _listed(any_warehouse) == {
        1001: (5, 1, _at(1), _at(5)),
        2002: (1, 2, _at(7), _at(7)),
    }
    # A later dump adds to a chat it shares and starts one of its own.
    any_warehouse.ingest(
        batches([json_row(i) for i in range(6, 9)] + [json_row(0, chat_id=3003)]),
        dump=dump("e"),
    )
    assert assert_chat_stats_exact(any_warehouse) == [
        (1001, 7, 1, _at(1), _at(8)),
        (2002, 1, 2, _at(7), _at(7)),
        (3003, 1, 0, _at(0), _at(0)),
    ]


def test_a_chat_of_service_entries_only_has_no_message_times(
    any_warehouse: AnyWarehouse,
) -> None:
    any_warehouse.ingest(batches([_side(1, kind="service")]), dump=dump("d"))
    assert assert_chat_stats_exact(any_warehouse) == [(2002, 0, 1, None, None)]
    any_warehouse.ingest(batches([_side(2)]), dump=dump("e"))
    assert assert_chat_stats_exact(any_warehouse) == [(2002, 1, 1, _at(2), _at(2))]


def test_edits_that_change_kind_or_time_are_counted_again(any_warehouse: AnyWarehouse) -> None:
    any_warehouse.ingest(batches([json_row(i) for i in range(1, 7)]), dump=dump("d"))
    edited = BASE_TIME + 1000
    again = [
        # Text only: the summary stays as it is.
        json_row(2, text="fixed typo", edited_at=edited),
        # The first message becomes a service entry, the last one moves earlier: neither
        # can be expressed by adding to the stored counts and times.
        json_row(1, kind="service", edited_at=edited),
        json_row(6, sent_at=BASE_TIME + 35, edited_at=edited),
        json_row(7),
    ]
    result = any_warehouse.ingest(batches(again), dump=dump("e"))

    assert (result.new, result.updated) == (1, 3)
    assert assert_chat_stats_exact(any_warehouse) == [
        (1001, 6, 1, _at(2), _at(7)),
    ]
    # An older export of the same messages changes nothing.
    before = snapshot(any_warehouse)
    any_warehouse.ingest(batches([json_row(i) for i in range(1, 7)]), dump=dump("old"))
    assert snapshot(any_warehouse)["chat_stats"] == before["chat_stats"]


def test_a_key_met_again_in_a_later_round_of_one_dump(
    any_warehouse: AnyWarehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dump is applied in rounds: a newer edit of a row an earlier round of the same
    dump inserted (COPYed whole, on PostgreSQL) moves its time and kind."""
    monkeypatch.setattr(duckdb_rounds, "GROUP_ROWS", 1)
    monkeypatch.setattr(pg_upsert, "ROUND_ROWS", 1)
    rows = [json_row(i) for i in range(1, 5)]
    rows += [
        json_row(4, sent_at=BASE_TIME + 5, edited_at=BASE_TIME + 900),
        json_row(1, kind="service", edited_at=BASE_TIME + 900),
        json_row(2),
    ]
    result = any_warehouse.ingest(batches(rows, size=1), dump=dump("d"))

    assert result.new == 4 and result.duplicates == 3
    assert assert_chat_stats_exact(any_warehouse) == [(1001, 3, 1, _at(0, 5), _at(3))]


def test_a_surrogate_chat_rekeyed_by_json_leaves_one_summary(
    any_warehouse: AnyWarehouse,
) -> None:
    # The HTML export's times are an hour off (an assumed zone): the JSON versions that
    # replace them move the chat's first and last times.
    html = [html_row(i, sent_at=BASE_TIME + i * 10 + 3600) for i in range(1, 6)]
    html.append(html_row(60, kind="service", sent_at=BASE_TIME + 3600))
    any_warehouse.ingest(batches(html), dump=dump("h", "telegram_html"))
    surrogate = surrogate_chat_id("Team")
    assert assert_chat_stats_exact(any_warehouse) == [(surrogate, 5, 1, _at(1, 3600), _at(5, 3600))]

    result = any_warehouse.ingest(batches([json_row(i) for i in range(4, 9)]), dump=dump("j"))

    assert result.rekeyed == {surrogate: 1001}
    # Messages 1-3 keep their HTML times, 4 and 5 take the JSON ones.
    summary = (1001, 8, 1, _at(4), _at(3, 3600))
    assert assert_chat_stats_exact(any_warehouse) == [summary]
    assert _listed(any_warehouse) == {1001: summary[1:]}


def test_an_html_dump_told_its_chat_id_moves_its_summary(any_warehouse: AnyWarehouse) -> None:
    html = [html_row(i) for i in range(1, 4)]
    any_warehouse.ingest(batches(html), dump=dump("h", "telegram_html"))
    any_warehouse.ingest(batches(html), dump=dump("h2", "telegram_html"), chat_id=77)
    assert assert_chat_stats_exact(any_warehouse) == [(77, 3, 0, _at(1), _at(3))]


def test_deletes_recount_the_chats_they_touch(any_warehouse: AnyWarehouse) -> None:
    rows = [json_row(i) for i in range(1, 9)]
    rows += [json_row(9, kind="service"), _side(10), _side(11), json_row(12, chat_id=3003)]
    any_warehouse.ingest(batches(rows), dump=dump("d"))

    # By filter: the chat's first message and one more go.
    deleted = any_warehouse.delete_messages(MessageFilter(until=_at(2, 1)))
    assert deleted.deleted == 2
    assert assert_chat_stats_exact(any_warehouse) == [
        (1001, 6, 1, _at(3), _at(8)),
        (2002, 2, 0, _at(10), _at(11)),
        (3003, 1, 0, _at(12), _at(12)),
    ]
    # By chat: its row goes; chats still lists it, with nothing in it.
    assert any_warehouse.delete_messages(MessageFilter(chat="Side Room")).deleted == 2
    assert [c for c, *_ in assert_chat_stats_exact(any_warehouse)] == [1001, 3003]
    assert _listed(any_warehouse)[2002] == (0, 0, None, None)
    # By kind, then everything.
    assert any_warehouse.delete_messages(MessageFilter(kind="service")).deleted == 1
    assert assert_chat_stats_exact(any_warehouse)[0] == (1001, 6, 0, _at(3), _at(8))
    any_warehouse.delete_all()
    assert assert_chat_stats_exact(any_warehouse) == []
    assert set(_listed(any_warehouse).values()) == {(0, 0, None, None)}
    # A dump read again after the delete counts from nothing.
    any_warehouse.ingest(batches(rows), dump=dump("d"))
    assert len(assert_chat_stats_exact(any_warehouse)) == 3


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_restored_backup_gives_back_the_summary(
    tmp_path: Path, any_warehouse: AnyWarehouse, open_any: Opener, fmt: str
) -> None:
    fill_for_backup(any_warehouse)
    original = assert_chat_stats_exact(any_warehouse)
    made = any_warehouse.backup(tmp_path / "backups", fmt=fmt, row_group_size=64)

    with open_any(name="restored") as restored:
        restored.ingest(read_backup(made.path, ReadOptions(batch_size=37)), dump=dump("r"))
        assert assert_chat_stats_exact(restored) == original
        restored.ingest(read_backup(made.path, ReadOptions()), dump=dump("r2"))
        assert assert_chat_stats_exact(restored) == original
    with open_any(name="overlapping") as overlapping:
        # Part of the backup already there, one message in an older version: the restore
        # classifies, adds the rest and replaces that one.
        overlapping.ingest(
            batches([_older(json_row(i, chat_id=2000 + i % 3)) for i in range(1, 40)]),
            dump=dump("part"),
        )
        overlapping.ingest(read_backup(made.path, ReadOptions(batch_size=50)), dump=dump("r"))
        assert assert_chat_stats_exact(overlapping) == original


def _older(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` as a worse version than a backup holds: an assumed time an hour off and no
    sender id, from HTML."""
    return {
        **row,
        "sent_at": row["sent_at"] - 3600,
        "time_source": "assumed",
        "sender_id": None,
        "source_file": "messages.html",
    }


def test_the_migration_fills_the_summary_of_an_older_warehouse(open_any: Opener) -> None:
    rows = [json_row(i) for i in range(1, 5)] + [_side(5, kind="service")]
    with open_any() as warehouse:
        warehouse.ingest(batches(rows), dump=dump("d"))
        expected = assert_chat_stats_exact(warehouse)
        # The warehouse as the release before the summary left it.
        sql(warehouse, "DROP TABLE chat_stats")
        sql(warehouse, "DELETE FROM schema_migrations WHERE version = 6")
    with open_any() as warehouse:
        assert assert_chat_stats_exact(warehouse) == expected
        assert expected == [(1001, 4, 0, _at(1), _at(4)), (2002, 0, 1, None, None)]


def test_writers_of_one_chat_side_by_side_keep_it_exact(pg_url: str) -> None:
    """PostgreSQL: a writer held mid-dump while another adds to the same chat and
    commits; then the first commits on top of it."""
    with PgWarehouse.open(pg_url):
        pass
    first = [json_row(i) for i in range(1, 50)]
    then = [json_row(i, kind="service") for i in range(50, 60)]
    with held_ingest(pg_url, first, then) as held, PgWarehouse.open(pg_url) as w:
        w.ingest(batches([json_row(i) for i in range(100, 131)]), dump=dump("second"))
    assert held.error is None and held.result is not None and held.result.new == 59
    with PgWarehouse.open(pg_url) as w:
        assert assert_chat_stats_exact(w) == [(1001, 80, 10, _at(1), _at(130))]
