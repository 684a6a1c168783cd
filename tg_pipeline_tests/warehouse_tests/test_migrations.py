"""Schema migrations: a file from an older version upgrades in place and keeps its data.
DuckDB only: files that older releases wrote; no PostgreSQL warehouse predates this schema."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tg_pipeline.errors import TgPipelineError
from tg_pipeline.warehouse import LATEST_VERSION, Warehouse
from tg_pipeline.warehouse.migrations import MIGRATIONS, applied_versions, apply_migrations
from tg_pipeline_tests.warehouse_tests.builders import (
    assert_chat_stats_exact,
    batches,
    dump,
    json_row,
)


def _open_and_close(path: Path, *, read_only: bool) -> None:
    with Warehouse.open(path, read_only=read_only):
        pass


def _old_file(path: Path) -> None:
    """A warehouse as the first released schema left it, with a message in it."""
    con = duckdb.connect(str(path))
    apply_migrations(con, MIGRATIONS[:1])
    con.execute(
        "INSERT INTO messages (chat_id, message_id, kind, sent_at, time_source, text, entities, "
        "extra, updated_at) VALUES (1, 1, 'message', now(), 'unixtime', 'kept', '[]', '{}', now())"
    )
    con.close()


def test_older_file_is_upgraded_when_opened_for_writing(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    _old_file(path)

    with pytest.raises(TgPipelineError, match=r"older than .* open it for writing once"):
        _open_and_close(path, read_only=True)
    with Warehouse.open(path) as warehouse:
        assert applied_versions(warehouse.con) == {m.version for m in MIGRATIONS}
        assert warehouse.con.execute("SELECT text FROM messages").fetchall() == [("kept",)]
        # The per-chat summary is filled from the rows the file held.
        assert [row[:3] for row in assert_chat_stats_exact(warehouse)] == [(1, 1, 0)]
        assert warehouse.store_audit_events([{"event_id": "e1", "event_type": "t"}]) == 1
        warehouse.ingest(batches([json_row(2, chat_id=1)]), dump=dump("d"))
    with Warehouse.open(path, read_only=True) as warehouse:
        assert warehouse.row_counts()["messages"] == 2
        assert [row[:3] for row in assert_chat_stats_exact(warehouse)] == [(1, 2, 0)]


def test_migrations_are_applied_once(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    for _ in range(2):
        with Warehouse.open(path) as warehouse:
            rows = warehouse.con.execute("SELECT version FROM schema_migrations").fetchall()
            assert sorted(v for (v,) in rows) == list(range(1, LATEST_VERSION + 1))
    con = duckdb.connect(str(path))
    assert apply_migrations(con) == []
    con.close()


def test_file_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.duckdb"
    with Warehouse.open(path):
        pass
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO schema_migrations (version, name) VALUES (999, 'from the future')")
    con.close()
    for read_only in (True, False):
        with pytest.raises(TgPipelineError, match=r"newer than this tg_pipeline"):
            _open_and_close(path, read_only=read_only)


def test_a_non_warehouse_file_is_refused_read_only(tmp_path: Path) -> None:
    path = tmp_path / "other.duckdb"
    duckdb.connect(str(path)).close()
    with pytest.raises(TgPipelineError, match=r"not a tg_pipeline warehouse"):
        _open_and_close(path, read_only=True)


def test_messages_rebuild_keeps_every_row_and_column(tmp_path: Path) -> None:
    """Version 4 rebuilds ``messages``; a file from version 3 keeps its rows as they were,
    now in key order, without the key index, and with zstd for the long text columns."""
    path = tmp_path / "v3.duckdb"
    con = duckdb.connect(str(path))
    apply_migrations(con, [m for m in MIGRATIONS if m.version <= 3])
    for message_id in (3, 1, 2):
        con.execute(
            "INSERT INTO messages (chat_id, chat_name, message_id, kind, sent_at, edited_at, "
            "time_source, sender_id, sender_name, text, entities, reply_to_message_id, "
            "reactions, extra, source_file, sender_key, ingested_dump, updated_at) VALUES "
            "(7, 'Chat', ?, 'message', TIMESTAMPTZ '2021-01-02 03:04:05+00', NULL, 'unixtime', "
            "'user1', 'Ann', ?, '[{\"type\": \"bold\"}]', 1, '[]', '{\"k\": 1}', 'result.json', "
            "'user1', 'd1', TIMESTAMPTZ '2021-01-02 03:04:05+00')",
            [message_id, f"text {message_id}"],
        )
    before = con.execute("SELECT * FROM messages ORDER BY message_id").fetchall()
    con.close()

    with Warehouse.open(path) as warehouse:
        con = warehouse.con
        assert con.execute("SELECT * FROM messages").fetchall() == before
        assert con.execute("SELECT count(*) FROM duckdb_indexes()").fetchall()[0][0] == 0
        constraints = con.execute(
            "SELECT constraint_type FROM duckdb_constraints() WHERE table_name = 'messages'"
        ).fetchall()
        assert ("PRIMARY KEY",) not in constraints
        con.execute("CHECKPOINT")
        compressed = con.execute(
            "SELECT DISTINCT column_name FROM pragma_storage_info('messages') "
            "WHERE compression = 'ZSTD'"
        ).fetchall()
        assert {c for (c,) in compressed} == {"text", "entities", "extra"}
