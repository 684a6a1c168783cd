"""Chat identity: surrogate chats for HTML, rekeying, joining a known chat by name;
on both backends."""

from __future__ import annotations

from tg_pipeline.warehouse import is_surrogate_chat_id, surrogate_chat_id
from tg_pipeline_tests.warehouse_tests.builders import (
    batches,
    dump,
    html_row,
    json_row,
    sql,
)
from tg_pipeline_tests.warehouse_tests.conftest import AnyWarehouse

SEED_CHAT_ID = 1124496986


def test_html_rows_get_a_stable_surrogate_chat(any_warehouse: AnyWarehouse) -> None:
    result = any_warehouse.ingest(
        batches([html_row(i) for i in range(1, 4)]), dump=dump("h", "html")
    )
    surrogate = surrogate_chat_id("Team")

    assert result.chats == [surrogate]
    assert is_surrogate_chat_id(surrogate) and not is_surrogate_chat_id(SEED_CHAT_ID)
    assert sql(any_warehouse, "SELECT chat_id, is_surrogate FROM chats") == [(surrogate, True)]
    assert sql(any_warehouse, "SELECT DISTINCT sender_key FROM messages ORDER BY 1") == [
        ("name:Person 0",),
        ("name:Person 1",),
        ("name:Person 2",),
    ]


def test_surrogate_chat_is_rekeyed_to_the_real_id(any_warehouse: AnyWarehouse) -> None:
    any_warehouse.ingest(batches([html_row(i) for i in range(1, 6)]), dump=dump("h", "html"))
    any_warehouse.refresh_counts()
    surrogate = surrogate_chat_id("Team")

    result = any_warehouse.ingest(batches([json_row(i) for i in range(4, 9)]), dump=dump("j"))

    assert result.rekeyed == {surrogate: 1001}
    assert (result.new, result.updated, result.unchanged) == (3, 2, 0)
    assert sql(any_warehouse, "SELECT chat_id, count(*) FROM messages GROUP BY chat_id") == [
        (1001, 8)
    ]
    assert sql(any_warehouse, "SELECT chat_id, is_surrogate, first_seen_dump FROM chats") == [
        (1001, False, "h")
    ]
    assert sql(any_warehouse, "SELECT DISTINCT chat_id FROM chat_dumps") == [(1001,)]
    changed = any_warehouse.refresh_counts()
    assert {c.chat_id for c in changed if c.message_count == 0} == {surrogate}
    assert sum(c.message_count for c in changed if c.chat_id == 1001) == 8
    # HTML-only rows 1..3 keep their name senders; 4 and 5 took the JSON sender ids.
    keys = dict(sql(any_warehouse, "SELECT message_id, sender_key FROM messages"))
    assert keys[1].startswith("name:") and keys[4] == "user101"


def test_html_dump_joins_the_known_chat_by_name(any_warehouse: AnyWarehouse) -> None:
    any_warehouse.ingest(batches([json_row(i) for i in range(1, 3)]), dump=dump("j"))
    result = any_warehouse.ingest(batches([html_row(i) for i in range(2, 5)]), dump=dump("h"))

    assert result.chats == [1001]
    assert (result.new, result.updated, result.unchanged) == (2, 0, 1)
    assert sql(any_warehouse, "SELECT count(*) FROM chats")[0] == (1,)


def test_html_dump_with_an_ambiguous_name_stays_apart_unless_told(
    any_warehouse: AnyWarehouse,
) -> None:
    any_warehouse.ingest(batches([json_row(1, chat_id=1001)]), dump=dump("a"))
    any_warehouse.ingest(batches([json_row(1, chat_id=2002)]), dump=dump("b"))

    guessed = any_warehouse.ingest(batches([html_row(5)]), dump=dump("h"))
    told = any_warehouse.ingest(batches([html_row(6)]), dump=dump("h2"), chat_id=2002)

    assert guessed.chats == [surrogate_chat_id("Team")]
    assert told.chats == [2002]
