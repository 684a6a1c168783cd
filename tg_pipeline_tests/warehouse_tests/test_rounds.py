"""The upsert's rounds, on both backends: atomicity across rounds, duplicate keys, all-new
rounds (DuckDB's :mod:`~tg_pipeline.warehouse.rounds`, PostgreSQL's
:mod:`~tg_pipeline.warehouse.pg.upsert`)."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest

from tg_pipeline.errors import DumpError
from tg_pipeline.warehouse import Warehouse, rounds
from tg_pipeline.warehouse.pg import upsert as pg_upsert
from tg_pipeline.warehouse.round_sql import BATCH_VIEW
from tg_pipeline_tests.warehouse_tests.builders import (
    assert_chat_stats_exact,
    batches,
    dump,
    json_row,
    record_rows,
    snapshot,
    sql,
)
from tg_pipeline_tests.warehouse_tests.conftest import AnyWarehouse, Opener


@pytest.fixture
def small_rounds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Apply every reader batch as its own round, as a big dump does every 25k (DuckDB)
    or 50k (PostgreSQL) rows."""
    monkeypatch.setattr(rounds, "GROUP_ROWS", 1)
    monkeypatch.setattr(pg_upsert, "ROUND_ROWS", 1)


@pytest.mark.parametrize("prefetch", [True, False])
def test_reader_failure_midway_rolls_back_everything(
    any_warehouse: AnyWarehouse, prefetch: bool, small_rounds: None
) -> None:
    warehouse = any_warehouse
    warehouse.ingest(batches([json_row(i) for i in range(1, 4)]), dump=dump("base"))
    warehouse.refresh_counts()
    before = snapshot(warehouse)
    failure = DumpError("unexpected end of data", file="result.json", position="messages[250]")

    def failing() -> Iterator[pa.RecordBatch]:
        rows = [json_row(i, text="changed", edited_at=2_000_000_000) for i in range(1, 500)]
        for produced, batch in enumerate(batches(rows, size=100), start=1):
            yield batch
            if produced == 3:
                raise failure

    applied: list[int] = []
    real_apply = rounds.Upsert._apply
    real_round = pg_upsert._Staged._round

    def counting_apply(self: rounds.Upsert, group: list[pa.RecordBatch], *rest: object) -> None:
        real_apply(self, group, *rest)  # type: ignore[arg-type]
        applied.append(sum(b.num_rows for b in group))

    def counting_round(self: pg_upsert._Staged, rows: pa.Table) -> None:
        real_round(self, rows)
        applied.append(rows.num_rows)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rounds.Upsert, "_apply", counting_apply)
        patch.setattr(pg_upsert._Staged, "_round", counting_round)
        with pytest.raises(DumpError) as caught:
            warehouse.ingest(failing(), dump=dump("broken"), prefetch=prefetch)

    assert sum(applied) >= 200  # rows were written inside the transaction before the error
    assert caught.value is failure
    assert snapshot(warehouse) == before
    # The connection is usable and not left inside a transaction.
    assert warehouse.ingest(batches([json_row(9)]), dump=dump("after")).new == 1


def test_a_round_is_let_go_before_the_next_is_read(
    warehouse: Warehouse, small_rounds: None
) -> None:
    """The round just applied is not held while the reader builds the next one, so two
    rounds' Arrow memory never sit side by side."""
    rows_held: list[int] = []

    def reading() -> Iterator[pa.RecordBatch]:
        for produced, batch in enumerate(batches([json_row(i) for i in range(1, 41)], size=10)):
            if produced:
                row = warehouse.con.execute(f"SELECT count(*) FROM {BATCH_VIEW}").fetchone()
                rows_held.append(row[0] if row else -1)
            yield batch

    assert warehouse.ingest(reading(), dump=dump("d"), prefetch=False).new == 40
    assert rows_held == [0, 0, 0]


def test_duplicate_keys_within_a_dump_keep_newest_edit_then_last(
    open_any: Opener, small_rounds: None
) -> None:
    rows = [
        json_row(1, text="first"),
        json_row(1, text="edited", edited_at=BASE_EDIT),
        json_row(1, text="older"),
        json_row(2, text="a"),
        json_row(2, text="b"),
        json_row(3, text="x"),
    ]
    # Same key inside one round and across rounds (size 2 splits the pairs).
    for size, name in ((100, "one-batch"), (2, "split")):
        with open_any(name=name) as fresh:
            result = fresh.ingest(batches(rows, size=size), dump=dump(name))
            assert (result.new, result.updated, result.unchanged, result.rows) == (3, 0, 0, 6)
            # Every repeat is counted and the first ones are shown with both places.
            assert result.duplicates == 3
            assert result.duplicates_shown[0].startswith("message 1 of chat ")
            assert all(" and " in line for line in result.duplicates_shown)
            texts = dict(sql(fresh, "SELECT message_id, text FROM messages"))
            assert texts == {1: "edited", 2: "b", 3: "x"}
            assert fresh.duplicate_keys() == 0
            again = fresh.ingest(batches(rows, size=size), dump=dump(name))
            assert (again.new, again.updated) == (0, 0)


BASE_EDIT = 1_700_000_000


def test_batches_with_other_column_order_are_accepted(any_warehouse: AnyWarehouse) -> None:
    batch = next(batches([json_row(1)]))
    shuffled = batch.select(list(reversed(batch.schema.names)))
    assert any_warehouse.ingest([shuffled], dump=dump("d")).new == 1


@pytest.mark.parametrize("tail", [range(4, 9), range(2, 7)])
def test_rounds_of_only_new_rows_end_as_the_classified_path_does(
    open_any: Opener, tail: range, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A round whose keys are new past everything stored goes straight in (range(4, 9));
    one overlapping stored keys is classified (range(2, 7)). Either way the tables end
    as when every round is classified."""
    head = [json_row(i) for i in range(1, 4)]
    more = [json_row(i, sender_name=f"Renamed {i % 3}") for i in tail]
    ended = []
    for name, direct in (("direct", True), ("classified", False)):
        if not direct:
            monkeypatch.setattr(rounds.Upsert, "_all_new", lambda *a: False)
            monkeypatch.setattr(pg_upsert._Staged, "_all_new", lambda *a: False)
        with open_any(name=name) as fresh:
            fresh.ingest(batches(head), dump=dump("head"))
            result = fresh.ingest(batches(more), dump=dump("tail"))
            fresh.refresh_counts()
            tables = [
                sorted(sql(fresh, query), key=repr)
                for query in (
                    "SELECT sender_key, sender_id, name, first_seen, last_seen FROM senders",
                    "SELECT * FROM sender_names",
                )
            ]
            ended.append((result.new, result.unchanged, record_rows(fresh), tables))
    assert ended[0] == ended[1]
    assert ended[0][0] == len([i for i in tail if i > 3])


def test_new_rows_of_several_chats_in_one_round_go_in_once(
    open_any: Opener, small_rounds: None
) -> None:
    """Rounds mixing chats, with a later round repeating an earlier round's key: the
    repeat is found against the row the earlier round wrote, whichever path wrote it."""
    rows = [json_row(i, chat_id=1001 + i % 2) for i in range(1, 7)]
    rows[3]["kind"] = "service"
    rows.append(json_row(3, chat_id=1002, text="again"))
    with open_any() as fresh:
        result = fresh.ingest(batches(rows, size=3), dump=dump("mixed"))
        assert (result.new, result.updated, result.duplicates, result.rows) == (6, 0, 1, 7)
        assert sorted(result.chats) == [1001, 1002]
        texts = dict(sql(fresh, "SELECT message_id, text FROM messages WHERE chat_id = 1002"))
        assert texts == {1: "message 1", 3: "again", 5: "message 5"}
        # The per-chat summary counts what the rounds COPYed whole, the service entry apart.
        assert [row[:3] for row in assert_chat_stats_exact(fresh)] == [(1001, 2, 1), (1002, 3, 0)]
