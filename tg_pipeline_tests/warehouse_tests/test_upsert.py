"""The one upsert: identity rules, idempotence, edits, atomicity, duplicate keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tg_pipeline.errors import DumpError, TgPipelineError
from tg_pipeline.readers.html_export import read_html_export
from tg_pipeline.readers.json_export import read_json_export
from tg_pipeline.records import BackupScan, ReadOptions
from tg_pipeline.warehouse import Warehouse, is_surrogate_chat_id, rounds, surrogate_chat_id
from tg_pipeline_tests.warehouse_tests.builders import (
    batches,
    dump,
    html_row,
    json_row,
    record_rows,
    snapshot,
)

SEED_CHAT_ID = 1124496986


def _seed(kind: str, seed_dir: Path) -> Iterator[pa.RecordBatch]:
    if kind == "json":
        return read_json_export(seed_dir / "result.json", ReadOptions())
    return read_html_export([seed_dir / "messages.html"], ReadOptions())


@pytest.mark.parametrize("order", [("html", "json"), ("json", "html")])
def test_seed_pair_in_either_order_is_one_chat_of_12(
    warehouse: Warehouse, seed_dir: Path, order: tuple[str, str]
) -> None:
    first = warehouse.ingest(_seed(order[0], seed_dir), dump=dump("first"))
    second = warehouse.ingest(_seed(order[1], seed_dir), dump=dump("second"))

    assert first.new == 12 and first.rows == 12
    assert second.new == 0 and second.rows == 12
    chats = warehouse.chats().to_pylist()
    # 12 entries: 10 messages and 2 service entries.
    assert [
        (c["chat_id"], c["message_count"], c["service_count"], c["is_surrogate"]) for c in chats
    ] == [(SEED_CHAT_ID, 10, 2, False)]
    assert sorted(chats[0]["dumps"]) == ["first", "second"]
    stored = warehouse.con.execute(
        "SELECT count(*), count(DISTINCT message_id), min(message_id), max(message_id), "
        "bool_and(time_source = 'unixtime') FROM messages"
    ).fetchone()
    assert stored == (12, 12, 182649, 182660, True)  # the JSON versions won
    # The hand-renamed sender of 182651 is one sender with both names in its history.
    assert warehouse.con.execute(
        "SELECT name FROM sender_names WHERE sender_key = 'user496709216' ORDER BY name"
    ).fetchall() == [("user1",), ("username1",)]
    assert warehouse.con.execute(
        "SELECT name FROM senders WHERE sender_key = 'user496709216'"
    ).fetchall() == [("user1",)]
    assert not warehouse.con.execute(
        "SELECT * FROM senders WHERE sender_key LIKE 'name:%'"
    ).fetchall()


def test_seed_pair_orders_end_in_the_same_tables(tmp_path: Path, seed_dir: Path) -> None:
    ends = []
    for order in (("html", "json"), ("json", "html")):
        with Warehouse.open(tmp_path / f"{'-'.join(order)}.duckdb") as warehouse:
            for kind in order:
                warehouse.ingest(_seed(kind, seed_dir), dump=dump(kind))
            warehouse.refresh_counts()
            ends.append(
                (
                    record_rows(warehouse),
                    warehouse.con.execute(
                        "SELECT chat_id, sender_key, sender_name, message_count "
                        "FROM user_message_counts ORDER BY ALL"
                    ).fetchall(),
                    warehouse.con.execute(
                        "SELECT sender_key, name FROM sender_names ORDER BY ALL"
                    ).fetchall(),
                )
            )
    assert ends[0] == ends[1]


@pytest.mark.parametrize("recognise", [True, False])
def test_reingesting_a_dump_changes_nothing(
    warehouse: Warehouse, seed_dir: Path, recognise: bool
) -> None:
    warehouse.ingest(_seed("html", seed_dir), dump=dump("h"))
    warehouse.ingest(_seed("json", seed_dir), dump=dump("j"))
    warehouse.refresh_counts()
    before = snapshot(warehouse)

    again = warehouse.ingest(_seed("json", seed_dir), dump=dump("j"), recognise_unchanged=recognise)
    html_again = warehouse.ingest(
        _seed("html", seed_dir), dump=dump("h"), recognise_unchanged=recognise
    )

    assert (again.new, again.updated, again.unchanged) == (0, 0, 12)
    assert (html_again.new, html_again.updated, html_again.unchanged) == (0, 0, 12)
    assert warehouse.refresh_counts() == []
    assert snapshot(warehouse) == before


def test_overlapping_newer_export_adds_new_and_updates_edited(warehouse: Warehouse) -> None:
    old = [json_row(i) for i in range(1, 6)]
    newer = [json_row(i) for i in range(3, 9)]
    newer[1] = json_row(4, text="message 4, fixed", edited_at=json_row(4)["sent_at"] + 60)

    warehouse.ingest(batches(old), dump=dump("old"))
    result = warehouse.ingest(batches(newer), dump=dump("newer"))

    assert (result.new, result.updated, result.unchanged, result.rows) == (3, 1, 2, 6)
    texts = dict(warehouse.con.execute("SELECT message_id, text FROM messages").fetchall())
    assert texts[4] == "message 4, fixed"
    assert sorted(texts) == list(range(1, 9))

    # The older export again does not undo the edit.
    back = warehouse.ingest(batches(old), dump=dump("old-again"))
    assert (back.new, back.updated) == (0, 0)
    assert warehouse.con.execute("SELECT text FROM messages WHERE message_id = 4").fetchone() == (
        "message 4, fixed",
    )


@pytest.fixture
def small_rounds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Apply every reader batch as its own round, as a big dump does every 100k rows."""
    monkeypatch.setattr(rounds, "GROUP_ROWS", 1)


@pytest.mark.parametrize("prefetch", [True, False])
def test_reader_failure_midway_rolls_back_everything(
    warehouse: Warehouse, prefetch: bool, small_rounds: None
) -> None:
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

    def counting_apply(self: rounds.Upsert, group: list[pa.RecordBatch], *slot: object) -> None:
        real_apply(self, group, *slot)
        applied.append(sum(b.num_rows for b in group))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rounds.Upsert, "_apply", counting_apply)
        with pytest.raises(DumpError) as caught:
            warehouse.ingest(failing(), dump=dump("broken"), prefetch=prefetch)

    assert sum(applied) >= 200  # rows were written inside the transaction before the error
    assert caught.value is failure
    assert snapshot(warehouse) == before
    # The connection is usable and not left inside a transaction.
    assert warehouse.ingest(batches([json_row(9)]), dump=dump("after")).new == 1


def test_a_value_too_big_for_the_memory_limit_names_the_file_and_the_cause(
    warehouse_path: Path,
) -> None:
    with Warehouse.open(warehouse_path, memory_limit="8MB") as warehouse:
        warehouse.ingest(batches([json_row(1)]), dump=dump("base"))
        before = snapshot(warehouse)
        with pytest.raises(TgPipelineError) as caught:
            huge = json_row(2, text="x" * 30_000_000)
            warehouse.ingest(batches([huge]), dump=dump("huge"))
        message = str(caught.value)
        assert str(warehouse_path) in message and "out of memory" in message
        assert "TG_DUCKDB_MEMORY_LIMIT" in message and "\n" not in message
        assert "rollback" not in message.lower()
        assert snapshot(warehouse) == before


def test_duplicate_keys_within_a_dump_keep_newest_edit_then_last(
    warehouse: Warehouse, small_rounds: None
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
        with Warehouse.open(warehouse.path.with_name(f"{name}.duckdb")) as fresh:
            result = fresh.ingest(batches(rows, size=size), dump=dump(name))
            assert (result.new, result.updated, result.unchanged, result.rows) == (3, 0, 0, 6)
            # Every repeat is counted and the first ones are shown with both places.
            assert result.duplicates == 3
            assert result.duplicates_shown[0].startswith("message 1 of chat ")
            assert all(" and " in line for line in result.duplicates_shown)
            texts = dict(fresh.con.execute("SELECT message_id, text FROM messages").fetchall())
            assert texts == {1: "edited", 2: "b", 3: "x"}
            assert fresh.duplicate_keys() == 0
            again = fresh.ingest(batches(rows, size=size), dump=dump(name))
            assert (again.new, again.updated) == (0, 0)


BASE_EDIT = 1_700_000_000


def test_html_rows_get_a_stable_surrogate_chat(warehouse: Warehouse) -> None:
    result = warehouse.ingest(batches([html_row(i) for i in range(1, 4)]), dump=dump("h", "html"))
    surrogate = surrogate_chat_id("Team")

    assert result.chats == [surrogate]
    assert is_surrogate_chat_id(surrogate) and not is_surrogate_chat_id(SEED_CHAT_ID)
    assert warehouse.con.execute("SELECT chat_id, is_surrogate FROM chats").fetchall() == [
        (surrogate, True)
    ]
    assert warehouse.con.execute(
        "SELECT DISTINCT sender_key FROM messages ORDER BY 1"
    ).fetchall() == [
        ("name:Person 0",),
        ("name:Person 1",),
        ("name:Person 2",),
    ]


def test_surrogate_chat_is_rekeyed_to_the_real_id(warehouse: Warehouse) -> None:
    warehouse.ingest(batches([html_row(i) for i in range(1, 6)]), dump=dump("h", "html"))
    warehouse.refresh_counts()
    surrogate = surrogate_chat_id("Team")

    result = warehouse.ingest(batches([json_row(i) for i in range(4, 9)]), dump=dump("j"))

    assert result.rekeyed == {surrogate: 1001}
    assert (result.new, result.updated, result.unchanged) == (3, 2, 0)
    assert warehouse.con.execute(
        "SELECT chat_id, count(*) FROM messages GROUP BY ALL"
    ).fetchall() == [(1001, 8)]
    assert warehouse.con.execute(
        "SELECT chat_id, is_surrogate, first_seen_dump FROM chats"
    ).fetchall() == [(1001, False, "h")]
    assert warehouse.con.execute("SELECT DISTINCT chat_id FROM chat_dumps").fetchall() == [(1001,)]
    changed = warehouse.refresh_counts()
    assert {c.chat_id for c in changed if c.message_count == 0} == {surrogate}
    assert sum(c.message_count for c in changed if c.chat_id == 1001) == 8
    # HTML-only rows 1..3 keep their name senders; 4 and 5 took the JSON sender ids.
    keys = dict(warehouse.con.execute("SELECT message_id, sender_key FROM messages").fetchall())
    assert keys[1].startswith("name:") and keys[4] == "user101"


def test_html_dump_joins_the_known_chat_by_name(warehouse: Warehouse) -> None:
    warehouse.ingest(batches([json_row(i) for i in range(1, 3)]), dump=dump("j"))
    result = warehouse.ingest(batches([html_row(i) for i in range(2, 5)]), dump=dump("h"))

    assert result.chats == [1001]
    assert (result.new, result.updated, result.unchanged) == (2, 0, 1)
    assert warehouse.con.execute("SELECT count(*) FROM chats").fetchone() == (1,)


def test_html_dump_with_an_ambiguous_name_stays_apart_unless_told(
    warehouse: Warehouse,
) -> None:
    warehouse.ingest(batches([json_row(1, chat_id=1001)]), dump=dump("a"))
    warehouse.ingest(batches([json_row(1, chat_id=2002)]), dump=dump("b"))

    guessed = warehouse.ingest(batches([html_row(5)]), dump=dump("h"))
    told = warehouse.ingest(batches([html_row(6)]), dump=dump("h2"), chat_id=2002)

    assert guessed.chats == [surrogate_chat_id("Team")]
    assert told.chats == [2002]


def test_json_instant_wins_over_html(warehouse: Warehouse) -> None:
    html = html_row(1, sent_at=BASE_EDIT + 3600, time_source="html_offset")
    json = json_row(1, sent_at=BASE_EDIT)
    warehouse.ingest(batches([json]), dump=dump("j"))
    result = warehouse.ingest(batches([html]), dump=dump("h"))

    assert result.updated == 0
    assert warehouse.con.execute("SELECT epoch(sent_at)::BIGINT FROM messages").fetchone() == (
        BASE_EDIT,
    )


def test_renamed_sender_stays_one_sender_with_history(warehouse: Warehouse) -> None:
    early = [json_row(i, sender_id="user7", sender_name="Old Name") for i in range(1, 3)]
    late = [json_row(i, sender_id="user7", sender_name="New Name") for i in range(3, 5)]
    warehouse.ingest(batches(early), dump=dump("early"))
    warehouse.ingest(batches(late), dump=dump("late"))

    assert warehouse.con.execute(
        "SELECT sender_key, name FROM senders WHERE sender_id = 'user7'"
    ).fetchall() == [("user7", "New Name")]
    history = warehouse.con.execute(
        "SELECT name, epoch(first_seen)::BIGINT, epoch(last_seen)::BIGINT FROM sender_names "
        "WHERE sender_key = 'user7' ORDER BY first_seen"
    ).fetchall()
    assert [name for name, _, _ in history] == ["Old Name", "New Name"]
    assert history[0][1] == json_row(1)["sent_at"] and history[1][2] == json_row(4)["sent_at"]
    counts = {c.sender_key: c for c in warehouse.refresh_counts()}
    assert counts["user7"].message_count == 4 and counts["user7"].sender_name == "New Name"


def test_counts_exclude_service_entries_and_report_only_changes(warehouse: Warehouse) -> None:
    rows = [json_row(i, sender_id="user1", sender_name="A") for i in range(1, 5)]
    rows.append(json_row(5, kind="service", sender_id="user1", sender_name="A", action="pin"))
    warehouse.ingest(batches(rows), dump=dump("d"))

    changed = warehouse.refresh_counts()
    assert [(c.sender_key, c.message_count) for c in changed] == [("user1", 4)]
    assert warehouse.refresh_counts() == []
    assert warehouse.counts_mismatch() == 0

    warehouse.ingest(batches([json_row(9, sender_id="user2", sender_name="B")]), dump=dump("e"))
    assert [(c.sender_key, c.message_count) for c in warehouse.refresh_counts()] == [("user2", 1)]
    warehouse.con.execute("UPDATE user_message_counts SET message_count = 99")
    assert warehouse.counts_mismatch() == 4


def test_record_dump_failure_and_dumps_listing(warehouse: Warehouse) -> None:
    warehouse.ingest(batches([json_row(1)]), dump=dump("ok"))
    warehouse.record_dump_failure(dump("bad"), "result.json: messages[3]: broken")
    rows = {r["dump_id"]: r for r in warehouse.dumps().to_pylist()}

    assert rows["ok"]["status"] == "ingested" and rows["ok"]["new_count"] == 1
    assert rows["bad"]["status"] == "quarantined"
    assert "messages[3]" in rows["bad"]["error"]


def test_batches_with_other_column_order_are_accepted(warehouse: Warehouse) -> None:
    batch = next(batches([json_row(1)]))
    shuffled = batch.select(list(reversed(batch.schema.names)))
    assert warehouse.ingest([shuffled], dump=dump("d")).new == 1


def test_integrity_checks(warehouse: Warehouse) -> None:
    rows = [json_row(1), json_row(2, reply_to_message_id=1), json_row(3, reply_to_message_id=77)]
    warehouse.ingest(batches(rows), dump=dump("d"))

    assert warehouse.duplicate_keys() == 0
    assert warehouse.missing_reply_targets() == 1
    assert warehouse.row_counts()["messages"] == 3
    assert set(warehouse.table_schema("messages")) >= {"chat_id", "sender_key", "extra"}
    assert [r["message_id"] for r in warehouse.preview(2)] == [3, 2]


@pytest.mark.parametrize("tail", [range(4, 9), range(2, 7)])
def test_rounds_of_only_new_rows_end_as_the_classified_path_does(
    tmp_path: Path, tail: range, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A round whose keys rise past everything stored goes straight in (range(4, 9));
    one overlapping stored keys is classified (range(2, 7)). Either way the tables end
    as when every round is classified."""
    head = [json_row(i) for i in range(1, 4)]
    more = [json_row(i, sender_name=f"Renamed {i % 3}") for i in tail]
    ended = []
    for name, direct in (("direct", True), ("classified", False)):
        if not direct:
            monkeypatch.setattr(rounds.Upsert, "_all_new", lambda *a: False)
        with Warehouse.open(tmp_path / f"{name}.duckdb") as fresh:
            fresh.ingest(batches(head), dump=dump("head"))
            result = fresh.ingest(batches(more), dump=dump("tail"))
            fresh.refresh_counts()
            tables = [
                sorted(fresh.con.execute(sql).fetchall(), key=repr)
                for sql in (
                    "SELECT * EXCLUDE (updated_at) FROM senders",
                    "SELECT * FROM sender_names",
                )
            ]
            ended.append((result.new, result.unchanged, record_rows(fresh), tables))
    assert ended[0] == ended[1]
    assert ended[0][0] == len([i for i in tail if i > 3])


class _Offering(Iterator[pa.RecordBatch]):
    """The batches of a Parquet file, offering DuckDB a scan of it with given promises."""

    def __init__(self, path: Path, scan: BackupScan) -> None:
        self.read = False
        self._path = path
        self._scan = scan
        self._batches: Iterator[pa.RecordBatch] | None = None

    def __next__(self) -> pa.RecordBatch:
        self.read = True
        if self._batches is None:
            self._batches = iter(pq.ParquetFile(self._path).iter_batches(batch_size=4))
        return next(self._batches)

    def direct_scan(self) -> BackupScan:
        return self._scan


@pytest.mark.parametrize("promise", ["kept", "range", "rows", "distinct"])
def test_a_scan_that_breaks_its_promise_is_rolled_back_for_the_batches(
    tmp_path: Path, promise: str
) -> None:
    """The direct scan takes the file's word for its key range, row count and distinct keys
    until its rows are in; a file that broke it ends as its batches alone would have."""
    rows = [json_row(i, chat_id=2000, edited_at=9) for i in range(1, 4)]
    rows += [json_row(i, text=f"newer {i}", edited_at=9) for i in range(4, 11)]
    if promise == "distinct":
        rows.append(json_row(10, text="again", edited_at=9))
    path = tmp_path / "file.parquet"
    pq.write_table(pa.Table.from_batches(list(batches(rows))), path)
    first, last = ((1001, 4), (2000, 3)) if promise != "range" else ((2000, 1), (2000, 3))
    scan = BackupScan(
        relation=f"read_parquet('{path}')",
        rows=len(rows) + (promise == "rows"),
        first_key=first,
        last_key=last,
    )
    ended = []
    for way in ("scan", "batches"):
        with Warehouse.open(tmp_path / f"{way}.duckdb") as warehouse:
            warehouse.ingest(batches([json_row(i, chat_id=7) for i in range(1, 6)]), dump=dump("a"))
            if promise == "range":
                warehouse.ingest(batches([json_row(i) for i in range(1, 6)]), dump=dump("b"))
            source = _Offering(path, scan)
            offered = source if way == "scan" else (batch for batch in source)
            result = warehouse.ingest(offered, dump=dump("file"))
            ended.append((result, record_rows(warehouse), snapshot(warehouse)["senders"]))
            if way == "scan":
                assert source.read is (promise != "kept")
    assert ended[0][:2] == ended[1][:2]
    assert [r[:2] for r in ended[0][2]] == [r[:2] for r in ended[1][2]]
