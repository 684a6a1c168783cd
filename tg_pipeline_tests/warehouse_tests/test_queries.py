"""The query and delete side: every filter, hostile strings as plain data, safe deletes;
on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tg_pipeline.errors import TgPipelineError
from tg_pipeline.warehouse import MessageFilter
from tg_pipeline_tests.warehouse_tests.builders import BASE_TIME, batches, dump, json_row
from tg_pipeline_tests.warehouse_tests.conftest import AnyWarehouse

HOSTILE = {
    10: "'; DROP TABLE messages; --",
    11: "100% sure",
    12: "snake_case_name",
    13: "a \"quoted\" 'word'",
    14: "party 🎉 time",
    15: "back\\slash",
}


@pytest.fixture
def filled(any_warehouse: AnyWarehouse) -> AnyWarehouse:
    warehouse = any_warehouse
    rows = [
        json_row(1, text="Hello World", sender_id="user1", sender_name="Alice"),
        json_row(2, text="hello again", sender_id="user2", sender_name="Bob"),
        json_row(3, text="pinned", kind="service", sender_id="user1", sender_name="Alice"),
        json_row(
            4,
            text="other chat",
            chat_id=2002,
            chat_name="Side Room",
            sender_id="user2",
            sender_name="Bob",
        ),
        json_row(5, text="renamed later", sender_id="user1", sender_name="Alicia"),
    ]
    rows += [
        json_row(i, text=t, sender_id=f"user{1000 + i}", sender_name=t) for i, t in HOSTILE.items()
    ]
    warehouse.ingest(batches(rows), dump=dump("d"))
    warehouse.refresh_counts()
    return warehouse


def _ids(warehouse: AnyWarehouse, f: MessageFilter, **kw: object) -> list[int]:
    table = warehouse.messages(f, limit=kw.pop("limit", None), **kw)  # type: ignore[arg-type]
    return table.column("message_id").to_pylist()


def test_filters(filled: AnyWarehouse) -> None:
    at = datetime.fromtimestamp(BASE_TIME, UTC)
    assert _ids(filled, MessageFilter(chat="side room")) == [4]
    assert _ids(filled, MessageFilter(chat="2002")) == [4]
    assert _ids(filled, MessageFilter(sender="ALICE")) == [1, 3, 5]  # a former name too
    assert _ids(filled, MessageFilter(sender="user2")) == [2, 4]
    assert _ids(filled, MessageFilter(text="HELLO")) == [1, 2]
    assert _ids(filled, MessageFilter(text="^hello (world|again)$", regex=True)) == [1, 2]
    assert _ids(filled, MessageFilter(kind="service")) == [3]
    assert _ids(
        filled, MessageFilter(since=at + timedelta(seconds=20), until=at + timedelta(seconds=50))
    ) == [2, 3, 4]
    naive = (at + timedelta(seconds=41)).replace(tzinfo=None)
    assert _ids(filled, MessageFilter(since=naive, text="e")) == [5, 10, 11, 12, 13, 14]
    assert _ids(filled, MessageFilter(sender="alice", kind="message", text="hello")) == [1]


def test_order_limit_offset(filled: AnyWarehouse) -> None:
    assert _ids(filled, MessageFilter(chat="Team"), limit=3) == [1, 2, 3]
    assert _ids(filled, MessageFilter(chat="Team"), limit=2, offset=1, desc=True) == [14, 13]
    table = filled.messages(MessageFilter(), limit=1)
    assert table.schema.field("sent_at").type.tz == "UTC"
    assert "sender_key" in table.schema.names
    assert filled.count_messages(MessageFilter(text="hello")) == 2


@pytest.mark.parametrize("message_id", sorted(HOSTILE))
def test_hostile_strings_match_literally(filled: AnyWarehouse, message_id: int) -> None:
    value = HOSTILE[message_id]
    assert _ids(filled, MessageFilter(text=value)) == [message_id]
    assert _ids(filled, MessageFilter(sender=value)) == [message_id]
    assert _ids(filled, MessageFilter(chat=value)) == []
    assert filled.row_counts()["messages"] == 5 + len(HOSTILE)


def test_like_wildcards_are_not_wildcards(filled: AnyWarehouse) -> None:
    assert _ids(filled, MessageFilter(text="%")) == [11]
    assert _ids(filled, MessageFilter(text="_")) == [12]
    assert _ids(filled, MessageFilter(sender="%")) == []
    assert _ids(filled, MessageFilter(text="\\")) == [15]


def test_bad_regex_is_a_clear_error(filled: AnyWarehouse) -> None:
    with pytest.raises(TgPipelineError, match="invalid filter"):
        filled.messages(MessageFilter(text="([unclosed", regex=True), limit=None)


def test_delete_refuses_an_empty_filter(filled: AnyWarehouse) -> None:
    assert MessageFilter().is_empty() and MessageFilter(regex=True).is_empty()
    assert not MessageFilter(kind="message").is_empty()
    with pytest.raises(TgPipelineError, match="refusing to delete without a filter"):
        filled.delete_messages(MessageFilter())
    with pytest.raises(TgPipelineError):
        filled.delete_messages(MessageFilter(regex=True))
    assert filled.row_counts()["messages"] == 5 + len(HOSTILE)


def test_filtered_delete_removes_exactly_the_matches_and_updates_counts(
    filled: AnyWarehouse,
) -> None:
    deletion = filled.delete_messages(MessageFilter(sender="Bob"))
    assert deletion.deleted == 2
    assert sorted(_ids(filled, MessageFilter(chat="Team"))) == [1, 3, 5, *sorted(HOSTILE)]
    changes = {(c.chat_id, c.sender_key): c.message_count for c in deletion.count_changes}
    assert changes == {(1001, "user2"): 0, (2002, "user2"): 0}
    assert filled.counts_mismatch() == 0
    assert filled.refresh_counts() == []
    counts = filled.counts(chat="team").to_pylist()
    assert (counts[0]["sender_key"], counts[0]["message_count"]) == ("user1", 2)
    assert len(counts) == 1 + len(HOSTILE)


def test_delete_all_is_explicit(filled: AnyWarehouse) -> None:
    assert filled.delete_all().deleted == 5 + len(HOSTILE)
    assert filled.row_counts()["messages"] == 0
    assert filled.row_counts()["user_message_counts"] == 0
    assert len(filled.chats()) == 2  # chats stay as history, with no messages


def test_listings(filled: AnyWarehouse) -> None:
    chats = {c["chat_id"]: c for c in filled.chats().to_pylist()}
    # Messages only, as in the counts; the one pinned entry is a service entry.
    assert chats[1001]["message_count"] == 3 + len(HOSTILE) and chats[1001]["dumps"] == ["d"]
    assert chats[1001]["service_count"] == 1
    assert chats[2002]["name"] == "Side Room"
    assert [d["dump_id"] for d in filled.dumps().to_pylist()] == ["d"]
    assert filled.counts().num_rows == 3 + len(HOSTILE)


def test_queries_work_after_a_half_read_result(filled: AnyWarehouse) -> None:
    # DuckDB 2.0 refuses relation queries while an execute() result is unfinished; the
    # PostgreSQL session's one cursor must drop an unfinished result as well.
    filled.sql_con.execute("SELECT message_id FROM messages").fetchone()
    assert filled.duplicate_keys() == 0
    assert _ids(filled, MessageFilter(text="hello")) == [1, 2]
    filled.sql_con.execute("SELECT message_id FROM messages").fetchone()
    assert filled.counts().num_rows == 3 + len(HOSTILE)
    assert filled.preview(1)
