"""``delete``: exactly the matching rows, counts updated, refused without a filter, audited;
on both warehouse backends."""

from __future__ import annotations

import sqlite3

import orjson

from tg_pipeline_tests.cli_tests.conftest import (
    HOSTILE_CHAT_ID,
    SEED_CHAT_ID,
    DataDir,
    ids,
    messages_jsonl,
    run_cli,
)
from tg_pipeline_tests.pg_warehouse import on_both_backends


def audit_events(data_dir: DataDir, event_type: str) -> list[dict]:
    """Events of one type waiting in the outbox, decoded as the relay would publish them."""
    with sqlite3.connect(data_dir.path / "outbox.sqlite") as con:
        rows = con.execute(
            "SELECT value FROM outbox WHERE event_type = ? ORDER BY seq", (event_type,)
        ).fetchall()
    return [orjson.loads(value) for (value,) in rows]


def counts(data_dir: DataDir, chat: int) -> dict[str, int]:
    result = run_cli("counts", "--chat", str(chat), "--format", "jsonl", data_dir=data_dir)
    assert result.code == 0, str(result)
    return {r["sender_key"]: r["message_count"] for r in result.jsonl()}


@on_both_backends("data_copy")
def test_filtered_delete_removes_exactly_the_matching_rows(data_copy: DataDir) -> None:
    before = messages_jsonl(data_copy)
    matching = messages_jsonl(data_copy, "--chat", str(SEED_CHAT_ID), "--sender", "username2")
    assert [r["message_id"] for r in matching] == [182652, 182653, 182659]
    counts_before = counts(data_copy, SEED_CHAT_ID)
    assert counts_before["user272557771"] == 3

    result = run_cli(
        "delete", "--chat", str(SEED_CHAT_ID), "--sender", "username2", "--yes", data_dir=data_copy
    )
    assert result.code == 0, str(result)
    assert "3 message(s) match" in result.out and "deleted 3 message(s)" in result.out

    after = messages_jsonl(data_copy)
    assert ids(after) == [k for k in ids(before) if k not in set(ids(matching))]
    counts_after = counts(data_copy, SEED_CHAT_ID)
    assert "user272557771" not in counts_after
    assert counts_after == {k: v for k, v in counts_before.items() if k != "user272557771"}

    (event,) = audit_events(data_copy, "messages_deleted")
    assert event["payload"]["deleted"] == 3
    assert event["payload"]["filter"] == {"chat": str(SEED_CHAT_ID), "sender": "username2"}
    assert event["job"] == "delete_job" and event["run_id"]


@on_both_backends("data_copy")
def test_delete_without_filter_is_refused(data_copy: DataDir) -> None:
    before = messages_jsonl(data_copy)
    result = run_cli("delete", "--yes", data_dir=data_copy)
    assert result.code == 2, str(result)
    assert "refusing to delete without a filter" in result.err
    assert messages_jsonl(data_copy) == before


@on_both_backends("data_copy")
def test_dry_run_changes_nothing(data_copy: DataDir) -> None:
    before = messages_jsonl(data_copy)
    result = run_cli("delete", "--chat", str(HOSTILE_CHAT_ID), "--dry-run", data_dir=data_copy)
    assert result.code == 0, str(result)
    assert "10 message(s) match" in result.out and "dry run: nothing deleted" in result.out
    assert messages_jsonl(data_copy) == before
    assert not (data_copy.path / "outbox.sqlite").exists() or not audit_events(
        data_copy, "messages_deleted"
    )


@on_both_backends("data_copy")
def test_unconfirmed_delete_changes_nothing(data_copy: DataDir) -> None:
    before = messages_jsonl(data_copy)
    result = run_cli("delete", "--kind", "service", data_dir=data_copy, input="n\n")
    assert result.code == 1, str(result)
    assert "Delete these" in result.err
    assert messages_jsonl(data_copy) == before


@on_both_backends("data_copy")
def test_hostile_delete_is_literal(data_copy: DataDir) -> None:
    result = run_cli("delete", "--text", "'; DROP TABLE messages; --", "--yes", data_dir=data_copy)
    assert result.code == 0, str(result)
    assert "deleted 1 message(s)" in result.out
    left = messages_jsonl(data_copy, "--chat", str(HOSTILE_CHAT_ID))
    assert [r["message_id"] for r in left] == [2, 3, 4, 5, 6, 7, 8, 9, 10]


@on_both_backends("data_copy")
def test_delete_all_needs_all(data_copy: DataDir) -> None:
    mixed = run_cli("delete", "--all", "--kind", "service", "--yes", data_dir=data_copy)
    assert mixed.code == 2, str(mixed)
    result = run_cli("delete", "--all", "--yes", data_dir=data_copy)
    assert result.code == 0, str(result)
    assert messages_jsonl(data_copy) == []
    counts_left = run_cli("counts", "--format", "jsonl", data_dir=data_copy)
    assert counts_left.jsonl() == []
