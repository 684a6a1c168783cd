"""Streamed reads: a long sorted read gives what one query would, on both backends; on
DuckDB it goes window by window."""

from __future__ import annotations

import pytest

from tg_pipeline.warehouse import MessageFilter
from tg_pipeline.warehouse import queries as q
from tg_pipeline_tests.warehouse_tests.builders import BASE_TIME, batches, dump, json_row, sql
from tg_pipeline_tests.warehouse_tests.conftest import AnyWarehouse

ROWS = 2_400


@pytest.fixture
def many(any_warehouse: AnyWarehouse) -> AnyWarehouse:
    warehouse = any_warehouse
    # Times repeat (every 7th message shares a second with others, across two chats), so
    # the windows' edges fall inside runs of equal times and the tie-break must hold.
    rows = [
        json_row(
            i,
            chat_id=1001 + i % 2,
            chat_name=f"Chat {i % 2}",
            sent_at=BASE_TIME + (i // 7) * 60,
            kind="service" if i % 50 == 0 else "message",
        )
        for i in range(1, ROWS + 1)
    ]
    warehouse.ingest(batches(rows, size=500), dump=dump("many"))
    return warehouse


def _keys(reader) -> list[tuple[int, int]]:
    table = reader.read_all()
    return list(zip(table["chat_id"].to_pylist(), table["message_id"].to_pylist(), strict=True))


def _expected(warehouse: AnyWarehouse, where: str = "TRUE", desc: bool = False) -> list:
    order = " DESC" if desc else ""
    return sql(
        warehouse,
        f"SELECT chat_id, message_id FROM messages WHERE {where} "
        f"ORDER BY sent_at{order}, chat_id{order}, message_id{order}",
    )


@pytest.mark.parametrize("desc", [False, True])
def test_windowed_read_is_the_one_sorted_query(
    many: AnyWarehouse, monkeypatch: pytest.MonkeyPatch, desc: bool
) -> None:
    monkeypatch.setattr(q, "WINDOW_ROWS", 100)
    reader = many.messages_reader(MessageFilter(), limit=None, desc=desc)
    batch_sizes = []
    rows = []
    for batch in reader:
        batch_sizes.append(batch.num_rows)
        rows += zip(batch["chat_id"].to_pylist(), batch["message_id"].to_pylist(), strict=True)
    assert rows == [tuple(r) for r in _expected(many, desc=desc)]
    # PostgreSQL streams the one sorted query as the server sends it, in no windows.
    if not many.dialect.postgres:
        assert len(batch_sizes) > 10 and max(batch_sizes) <= 300  # it went window by window


def test_windowed_limit_offset_and_filter(
    many: AnyWarehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(q, "WINDOW_ROWS", 100)
    expected = [tuple(r) for r in _expected(many, "kind = 'message' AND chat_id = 1002")]
    f = MessageFilter(kind="message", chat="1002")
    assert _keys(many.messages_reader(f, limit=None)) == expected
    assert _keys(many.messages_reader(f, limit=250, offset=333)) == expected[333:583]
    assert _keys(many.messages_reader(f, limit=None, offset=1000)) == expected[1000:]
    assert _keys(many.messages_reader(f, limit=0)) == []
    # The page path (one top-N query) agrees with the windowed one.
    monkeypatch.setattr(q, "WINDOW_ROWS", 100_000)
    assert _keys(many.messages_reader(f, limit=250, offset=333)) == expected[333:583]


def test_chats_count_messages_as_counts_do(many: AnyWarehouse) -> None:
    many.refresh_counts()
    chats = {r["chat_id"]: r for r in many.chats_reader().read_all().to_pylist()}
    counts = many.counts_reader().read_all().to_pylist()
    for chat_id, chat in chats.items():
        in_counts = sum(r["message_count"] for r in counts if r["chat_id"] == chat_id)
        assert chat["message_count"] == in_counts
    # Every 50th of the 2,400 entries is a service entry, all of them in the even chat.
    assert {c: chats[c]["service_count"] for c in chats} == {1001: 48, 1002: 0}
    assert many.count_rows("chats") == 2
    assert many.count_rows("counts") == len(counts)
    overall = many.counts_reader(overall=True).read_all()
    assert many.count_rows("overall") == overall.num_rows
    assert sum(overall["message_count"].to_pylist()) == sum(r["message_count"] for r in counts)
    page = many.counts_reader(limit=2, offset=1).read_all().to_pylist()
    assert page == counts[1:3]
