"""One chat's state as its messages arrive: ids by position, fields written after the
messages, the id scheme, and dates undated entries borrow."""

from __future__ import annotations

from pathlib import Path

import pytest

from tg_pipeline.errors import DumpError
from tg_pipeline.readers import json_chat
from tg_pipeline_tests.readers_tests.test_json_export import chat, message, rows_of, write_json


def test_minimal_exports_without_ids(samples_dir: Path) -> None:
    rows = rows_of(samples_dir / "json" / "joweich_chat-miner__test_single_export.json")
    assert [row["message_id"] for row in rows] == [1, 2]
    assert all(row["extra"]["id_from_position"] for row in rows)
    assert [row["chat_id"] for row in rows] == [None, None]
    assert rows[1]["text"] == "Link:https://telegram.org/"
    assert rows[0]["sent_at"] == "2018-12-05T10:39:10+00:00"
    batch = rows_of(
        samples_dir / "json" / "joweich_chat-miner__test_batch_export.full_account.json"
    )
    assert [(row["chat_name"], row["message_id"]) for row in batch] == [
        ("Chatname", 1),
        ("Chatname", 2),
    ]


def test_chat_fields_after_the_messages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    document = {"messages": [message(i) for i in range(1, 8)], "type": "personal_chat", "id": 99}
    path = write_json(tmp_path, document)
    rows = rows_of(path)
    assert {(row["chat_id"], row["chat_type"]) for row in rows} == {(99, "personal_chat")}
    # Past the buffer limit the reader learns the fields with a second, metadata-only pass.
    monkeypatch.setattr(json_chat, "PENDING_LIMIT", 2)
    rows = rows_of(path, batch_size=3)
    assert [row["message_id"] for row in rows] == list(range(1, 8))
    assert {(row["chat_id"], row["chat_type"]) for row in rows} == {(99, "personal_chat")}


def test_id_schemes_old_and_new(tmp_path: Path) -> None:
    user_shift, peer_shift = 1 << 32, 2 << 32
    old = chat(
        message(1, from_id=user_shift + 5),
        message(2, from_id=123),
        message(3, from_id=peer_shift + 6),
        chat_id=user_shift + 1234,
    )
    for entry in old["messages"]:
        del entry["date_unixtime"]
    rows = rows_of(write_json(tmp_path, old, "old.json"))
    assert [row["sender_id"] for row in rows] == ["user5", "user123", "channel6"]
    assert {row["chat_id"] for row in rows} == {1234}
    # A v2.7.2+ chat with a user id above 2**32: bare, not decoded.
    new = chat(message(1, from_id="user6000000001"), chat_id=6000000001)
    assert rows_of(write_json(tmp_path, new, "new.json"))[0]["chat_id"] == 6000000001
    # Before v1.4.8 there were no chat ids.
    ancient = {"name": "Old", "type": "personal_chat", "messages": [message(1)]}
    assert rows_of(write_json(tmp_path, ancient, "ancient.json"))[0]["chat_id"] is None


def test_undated_first_entry_takes_the_next_time(tmp_path: Path) -> None:
    rows = rows_of(write_json(tmp_path, chat({"id": 1, "type": "unsupported"}, message(2))))
    assert rows[0]["sent_at"] == rows[1]["sent_at"]
    alone = chat({"id": 1, "type": "unsupported"})
    with pytest.raises(DumpError, match="no date"):
        rows_of(write_json(tmp_path, alone, "alone.json"))
