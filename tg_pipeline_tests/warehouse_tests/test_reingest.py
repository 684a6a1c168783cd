"""Recognising a dump that is already applied, and reading it again after a delete;
on both backends."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from tg_pipeline.warehouse import MessageFilter
from tg_pipeline_tests.warehouse_tests.builders import (
    batches,
    dump,
    html_row,
    json_row,
    record_rows,
    snapshot,
    sql,
)
from tg_pipeline_tests.warehouse_tests.conftest import AnyWarehouse


class Watched:
    """A reader that records whether anything was read from it and whether it was closed."""

    def __init__(self, rows: list[dict[str, object]]) -> None:
        self._inner = batches(rows, size=2)
        self.read = 0
        self.closed = False

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        return self

    def __next__(self) -> pa.RecordBatch:
        batch = next(self._inner)
        self.read += 1
        return batch

    def close(self) -> None:
        self.closed = True
        self._inner.close()


ROWS = [json_row(i) for i in range(1, 7)]


def test_reingest_is_recognised_without_reading_and_changes_nothing(
    any_warehouse: AnyWarehouse,
) -> None:
    first = any_warehouse.ingest(batches(ROWS), dump=dump("d"))
    any_warehouse.refresh_counts()
    before = snapshot(any_warehouse)

    source = Watched(ROWS)
    again = any_warehouse.ingest(source, dump=dump("d"))

    assert (source.read, source.closed) == (0, True)
    assert (again.new, again.updated, again.unchanged, again.rows) == (0, 0, 6, 6)
    assert (again.chats, again.senders) == (first.chats, first.senders)
    assert any_warehouse.refresh_counts() == []
    assert snapshot(any_warehouse) == before


def test_reingest_after_a_delete_restores_the_deleted_messages(any_warehouse: AnyWarehouse) -> None:
    any_warehouse.ingest(batches(ROWS), dump=dump("d"))
    any_warehouse.refresh_counts()
    before = record_rows(any_warehouse)
    assert any_warehouse.delete_messages(MessageFilter(sender="user101")).deleted == 2

    source = Watched(ROWS)
    back = any_warehouse.ingest(source, dump=dump("d"))

    assert source.read > 0
    assert (back.new, back.updated, back.unchanged) == (2, 0, 4)
    assert record_rows(any_warehouse) == before
    # Applied again at the current generation: the next re-ingest is recognised.
    third = Watched(ROWS)
    assert any_warehouse.ingest(third, dump=dump("d")).unchanged == 6
    assert third.read == 0


def test_a_delete_elsewhere_forces_one_full_read_that_changes_nothing(
    any_warehouse: AnyWarehouse,
) -> None:
    any_warehouse.ingest(batches(ROWS), dump=dump("d"))
    any_warehouse.ingest(batches([json_row(50)]), dump=dump("other"))
    any_warehouse.delete_messages(MessageFilter(text="message 50"))
    any_warehouse.refresh_counts()
    before = snapshot(any_warehouse)["messages"]

    source = Watched(ROWS)
    again = any_warehouse.ingest(source, dump=dump("d"))
    assert source.read > 0 and (again.new, again.updated) == (0, 0)
    assert snapshot(any_warehouse)["messages"] == before
    later = Watched(ROWS)
    any_warehouse.ingest(later, dump=dump("d"))
    assert later.read == 0


def test_delete_all_is_a_delete_too(any_warehouse: AnyWarehouse) -> None:
    any_warehouse.ingest(batches(ROWS), dump=dump("d"))
    any_warehouse.delete_all()
    assert any_warehouse.ingest(Watched(ROWS), dump=dump("d")).new == 6


def test_another_chat_id_is_not_the_same_ingest(any_warehouse: AnyWarehouse) -> None:
    html = [html_row(i) for i in range(1, 4)]
    any_warehouse.ingest(batches(html), dump=dump("h", "telegram_html"))
    source = Watched(html)
    told = any_warehouse.ingest(source, dump=dump("h", "telegram_html"), chat_id=77)
    assert source.read > 0
    assert told.chats == [77] and list(told.rekeyed.values()) == [77]
    assert sql(any_warehouse, "SELECT DISTINCT chat_id FROM messages") == [(77,)]
