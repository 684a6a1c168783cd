"""The direct scan of a backup: promises checked on the inserted rows, and restores that
end as the batch restore does. DuckDB only: the direct scan is its restore's fast path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tg_pipeline.errors import DumpError
from tg_pipeline.readers import open_dump, read_dump
from tg_pipeline.readers.backup import manifest_path, read_backup
from tg_pipeline.records import BackupScan, ReadOptions
from tg_pipeline.warehouse import Warehouse
from tg_pipeline_tests.warehouse_tests.builders import (
    batches,
    dump,
    hostile_rows,
    html_row,
    json_row,
    record_rows,
    snapshot,
)


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


def _derived(warehouse: Warehouse) -> dict[str, list[tuple[object, ...]]]:
    """Every table a restore writes, without the instants that differ between two runs."""
    queries = {
        "messages": "SELECT * EXCLUDE (updated_at) FROM messages",
        "chats": "SELECT * EXCLUDE (updated_at) FROM chats",
        "chat_dumps": "SELECT * FROM chat_dumps",
        "senders": "SELECT * EXCLUDE (updated_at) FROM senders",
        "sender_names": "SELECT * FROM sender_names",
        "dumps": "SELECT * EXCLUDE (ingested_at) FROM dumps",
    }
    return {
        table: sorted(warehouse.con.execute(sql).fetchall(), key=repr)
        for table, sql in queries.items()
    }


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_restore_by_direct_scan_equals_the_batch_restore(tmp_path: Path, fmt: str) -> None:
    rows = [r for r in hostile_rows() if r["chat_id"] is not None]
    rows += [json_row(i, chat_id=2000 + i % 3, sender_name=f"n{i % 7}") for i in range(1, 300)]
    with Warehouse.open(tmp_path / "source.duckdb") as source:
        source.ingest(batches(rows, size=40), dump=dump("src"))
        original = record_rows(source)
        made = source.backup(tmp_path / "backups", fmt=fmt, row_group_size=64)

    backup = read_backup(made.path, ReadOptions(batch_size=37))
    assert backup.direct_scan() is not None
    with open_dump(made.path) as opened:
        assert hasattr(read_dump(opened), "direct_scan")
    with Warehouse.open(tmp_path / "scanned.duckdb") as scanned:
        fast = scanned.ingest(backup, dump=dump("r", "backup_parquet"))
        # The scan read the file itself: the batches were never asked for.
        assert next(backup).num_rows == 37
        assert record_rows(scanned) == original
        assert scanned.verify_backup(made.path).ok
        fast_tables = _derived(scanned)
    with Warehouse.open(tmp_path / "batched.duckdb") as batched:
        plain = iter(list(read_backup(made.path, ReadOptions(batch_size=37))))
        slow = batched.ingest(plain, dump=dump("r", "backup_parquet"))
        slow_tables = _derived(batched)

    assert (fast.new, fast.updated, fast.unchanged) == (len(original), 0, 0)
    assert fast == slow
    assert fast_tables == slow_tables


def _restore_both_ways(
    tmp_path: Path, stored: list[dict[str, object]], backup: Path
) -> tuple[object, object]:
    """Restore ``backup`` into two warehouses holding ``stored``: once offering the direct
    scan, once as bare batches (the restore before the scan existed). Each outcome is the
    result with every table, or the DumpError with the tables it left."""
    outcomes = []
    for way in ("scan", "batches"):
        with Warehouse.open(tmp_path / f"{way}.duckdb") as warehouse:
            if stored:
                warehouse.ingest(batches(stored), dump=dump("stored"))
            before = _derived(warehouse)
            reader = read_backup(backup, ReadOptions(batch_size=40))
            source = reader if way == "scan" else (batch for batch in reader)
            try:
                result = warehouse.ingest(source, dump=dump("r", "backup_csv"))
            except DumpError as err:
                assert _derived(warehouse) == before
                outcomes.append((err.message, err.file, err.position))
            else:
                outcomes.append((result, _derived(warehouse)))
    return outcomes[0], outcomes[1]


def _csv_lines(tmp_path: Path, rows: list[dict[str, object]]) -> tuple[Path, list[bytes]]:
    with Warehouse.open(tmp_path / "source.duckdb") as source:
        source.ingest(batches(rows), dump=dump("src"))
        made = source.backup(tmp_path / "backups", fmt="csv")
    return made.path, made.path.read_bytes().split(b"\r\n")


def _rewrite(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"\r\n".join(lines))


@pytest.mark.parametrize(
    "damage",
    [
        "bad cell",
        "lenient cell",
        "empty required cell",
        "truncated last row",
        "cut at a row boundary",
        "duplicate key",
        "rows out of order",
        "missing chat id",
        "missing chat id mid-file",
        "stored rows overlap",
    ],
)
def test_csv_restore_ends_as_the_batch_restore_did(tmp_path: Path, damage: str) -> None:
    rows = [json_row(i, chat_id=3000 + i // 40) for i in range(1, 120)]
    path, lines = _csv_lines(tmp_path, rows)
    stored: list[dict[str, object]] = []
    if damage == "bad cell":
        lines[50] = b"x" + lines[50]
    elif damage == "lenient cell":
        head, _, rest = lines[60].partition(b',"message",')
        lines[60] = head.rsplit(b",", 1)[0] + b",61.0," + b'"message",' + rest
    elif damage == "empty required cell":
        lines[70] = lines[70].replace(b',"message",', b",,", 1)
    elif damage == "truncated last row":
        lines[-2] = lines[-2][:-30]
    elif damage == "cut at a row boundary":
        lines = [*lines[:100], b""]
    elif damage == "duplicate key":
        lines.insert(31, lines[30].replace(b"message 30", b"message 30, again"))
        manifest_path(path).unlink()
    elif damage == "rows out of order":
        lines[20], lines[90] = lines[90], lines[20]
    elif damage == "missing chat id":
        lines[1] = lines[1].split(b",", 1)[1].join([b",", b""])
    elif damage == "missing chat id mid-file":
        lines[60] = b"," + lines[60].split(b",", 1)[1]
    else:
        stored = [json_row(i, chat_id=3001, text="older") for i in range(45, 50)]
    _rewrite(path, lines)

    scanned, batched = _restore_both_ways(tmp_path, stored, path)
    assert scanned == batched


def test_csv_restore_takes_the_scan_and_leaves_no_row_twice(tmp_path: Path) -> None:
    rows = [json_row(i, chat_id=3000 + i // 40) for i in range(1, 120)]
    path, _ = _csv_lines(tmp_path, rows)
    with Warehouse.open(tmp_path / "w.duckdb") as warehouse:
        warehouse.ingest(batches([json_row(i, chat_id=10) for i in range(1, 5)]), dump=dump("a"))
        backup = read_backup(path, ReadOptions(batch_size=40))
        result = warehouse.ingest(backup, dump=dump("r", "backup_csv"))
        # The batches were never asked for: the file went in by the scan.
        assert next(backup).num_rows == 40
        assert (result.new, result.updated, result.unchanged) == (119, 0, 0)
        assert result.chats == [3000, 3001, 3002]
        assert warehouse.con.execute(
            "SELECT count(*), count(DISTINCT (chat_id, message_id)) FROM messages"
        ).fetchall() == [(123, 123)]


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_restore_meeting_a_surrogate_chat_of_its_name_ends_as_the_batch_restore(
    tmp_path: Path, fmt: str
) -> None:
    """The backup's chat takes the HTML surrogate's messages over on first sight, so they
    are stored rows its keys meet, though none was in its range when the scan began."""
    with Warehouse.open(tmp_path / "source.duckdb") as source:
        source.ingest(batches([json_row(i) for i in range(1, 6)]), dump=dump("j"))
        made = source.backup(tmp_path / "backups", fmt=fmt)
    outcomes = []
    for way in ("scan", "batches"):
        with Warehouse.open(tmp_path / f"{way}.duckdb") as warehouse:
            warehouse.ingest(batches([html_row(i) for i in range(1, 4)]), dump=dump("h", "html"))
            reader = read_backup(made.path, ReadOptions())
            source = reader if way == "scan" else (batch for batch in reader)
            result = warehouse.ingest(source, dump=dump("r", f"backup_{fmt}"))
            outcomes.append((result, _derived(warehouse)))
    assert outcomes[0] == outcomes[1]
    result, tables = outcomes[0]
    assert (result.new, result.updated, result.unchanged) == (2, 3, 0)
    assert len(tables["messages"]) == 5
