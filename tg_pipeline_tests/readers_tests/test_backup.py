"""Reading backups back: streaming, typed columns, and clear errors for damaged files."""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tg_pipeline.errors import DumpError
from tg_pipeline.readers.backup import manifest_path, read_backup
from tg_pipeline.records import FIELD_NAMES, MESSAGE_SCHEMA, BackupScan, ReadOptions
from tg_pipeline.warehouse import BackupFile, Warehouse
from tg_pipeline_tests.warehouse_tests.builders import batches, dump, json_row

ROWS = 250


@pytest.fixture(scope="module")
def backups(tmp_path_factory: pytest.TempPathFactory) -> dict[str, BackupFile]:
    root = tmp_path_factory.mktemp("backups")
    with Warehouse.open(root / "w.duckdb") as warehouse:
        warehouse.ingest(batches([json_row(i) for i in range(1, ROWS + 1)]), dump=dump("d"))
        return {
            fmt: warehouse.backup(root / fmt, fmt=fmt, row_group_size=100)
            for fmt in ("parquet", "csv")
        }


def _copy(made: BackupFile, to: Path, *, with_manifest: bool = False) -> Path:
    target = to / made.path.name
    target.write_bytes(made.path.read_bytes())
    if with_manifest:
        manifest_path(target).write_bytes(made.manifest_path.read_bytes())
    return target


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_streams_schema_batches(backups: dict[str, BackupFile], fmt: str) -> None:
    got = list(read_backup(backups[fmt].path, ReadOptions(batch_size=40)))

    assert all(b.schema.equals(MESSAGE_SCHEMA) for b in got)
    assert max(b.num_rows for b in got) <= 40
    assert sum(b.num_rows for b in got) == ROWS
    first = got[0].to_pylist()[0]
    assert first["message_id"] == 1 and first["sent_at"].utcoffset().total_seconds() == 0


def test_reads_gzipped_csv(backups: dict[str, BackupFile], tmp_path: Path) -> None:
    gz = tmp_path / "b.csv.gz"
    gz.write_bytes(gzip.compress(backups["csv"].path.read_bytes()))
    assert sum(b.num_rows for b in read_backup(gz, ReadOptions())) == ROWS


def test_truncated_parquet_names_the_file(backups: dict[str, BackupFile], tmp_path: Path) -> None:
    path = _copy(backups["parquet"], tmp_path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    with pytest.raises(DumpError) as caught:
        list(read_backup(path, ReadOptions()))
    assert caught.value.file == str(path) and caught.value.position == "footer"


def test_corrupt_parquet_row_group_is_named(backups: dict[str, BackupFile], tmp_path: Path) -> None:
    path = _copy(backups["parquet"], tmp_path)
    meta = pq.ParquetFile(path).metadata
    start = meta.row_group(1).column(10).data_page_offset
    data = bytearray(path.read_bytes())
    data[start : start + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))

    with pytest.raises(DumpError) as caught:
        list(read_backup(path, ReadOptions()))
    assert caught.value.position == "row group 1"


def test_parquet_scan_checks_the_footer_against_the_manifest(
    backups: dict[str, BackupFile], tmp_path: Path
) -> None:
    path = _copy(backups["parquet"], tmp_path, with_manifest=True)
    scan = read_backup(path, ReadOptions()).direct_scan()
    assert scan is not None and scan.rows == ROWS
    assert scan.message_ids == (1, ROWS)
    assert (scan.first_key, scan.last_key) == ((1001, 1), (1001, ROWS))

    manifest = manifest_path(path)
    manifest.write_bytes(orjson.dumps({**orjson.loads(manifest.read_bytes()), "rows": ROWS + 1}))
    with pytest.raises(DumpError) as caught:
        read_backup(path, ReadOptions()).direct_scan()
    assert caught.value.file == str(path) and f"manifest says {ROWS + 1}" in caught.value.message


def test_truncated_csv_is_rejected(backups: dict[str, BackupFile], tmp_path: Path) -> None:
    path = _copy(backups["csv"], tmp_path)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) - 40])

    with pytest.raises(DumpError) as caught:
        list(read_backup(path, ReadOptions()))
    assert caught.value.file == str(path)
    assert "corrupt CSV" in caught.value.message
    assert caught.value.position == "CSV row 251 (header = row 1)"


def test_csv_cut_at_a_row_boundary_is_caught_by_the_manifest(
    backups: dict[str, BackupFile], tmp_path: Path
) -> None:
    path = _copy(backups["csv"], tmp_path, with_manifest=True)
    lines = path.read_bytes().split(b"\r\n")
    path.write_bytes(b"\r\n".join(lines[:100]) + b"\r\n")

    with pytest.raises(DumpError) as caught:
        list(read_backup(path, ReadOptions()))
    assert caught.value.position == "end of file" and "manifest says 250" in caught.value.message


def test_csv_with_a_bad_value_or_header(backups: dict[str, BackupFile], tmp_path: Path) -> None:
    path = _copy(backups["csv"], tmp_path)
    raw = path.read_bytes()
    path.write_bytes(raw.replace(b"\r\n1001,", b"\r\nnot-a-number,", 1))
    with pytest.raises(DumpError, match="corrupt CSV") as caught:
        list(read_backup(path, ReadOptions()))
    assert caught.value.position == "CSV row 2 (header = row 1)"

    path.write_bytes(raw.replace(b'"chat_id"', b'"chat"', 1))
    with pytest.raises(DumpError) as caught:
        list(read_backup(path, ReadOptions()))
    assert caught.value.position == "line 1" and "header" in caught.value.message


def test_missing_required_value_is_rejected(tmp_path: Path) -> None:
    batch = next(batches([json_row(1), json_row(2)]))
    table = pa.Table.from_batches([batch])
    index = table.schema.get_field_index("text")
    broken = table.set_column(index, pa.field("text", pa.string()), pa.array(["a", None]))
    path = tmp_path / "messages.parquet"
    pq.write_table(broken, path)

    with pytest.raises(DumpError, match="column text is empty in row 2"):
        list(read_backup(path, ReadOptions()))


def test_newer_schema_version_is_refused(backups: dict[str, BackupFile], tmp_path: Path) -> None:
    table = pq.read_table(backups["parquet"].path)
    meta = dict(table.schema.metadata)
    meta[b"tg_pipeline.schema_version"] = b"99"
    path = tmp_path / "future.parquet"
    pq.write_table(table.replace_schema_metadata(meta), path)

    with pytest.raises(DumpError, match="schema version 99"):
        list(read_backup(path, ReadOptions()))


def test_not_a_backup(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(DumpError, match="not a tg_pipeline backup"):
        list(read_backup(path, ReadOptions()))
    manifest = tmp_path / "x.parquet.manifest.json"
    manifest.write_bytes(orjson.dumps({"rows": "many"}))
    with pytest.raises(DumpError, match="not found"):
        list(read_backup(tmp_path / "x.parquet", ReadOptions()))


def _scanned(scan: BackupScan) -> list[dict[str, object]]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    relation = scan.relation
    if not isinstance(relation, str):
        con.register("scanned", relation)
        relation = "scanned"
    return con.sql(f"SELECT * FROM {relation}").to_arrow_table().to_pylist()


def _batched(path: Path) -> list[dict[str, object]]:
    return pa.Table.from_batches(list(read_backup(path, ReadOptions()))).to_pylist()


def _csv_backup(root: Path, rows: list[dict[str, object]]) -> Path:
    with Warehouse.open(root / "w.duckdb") as warehouse:
        warehouse.ingest(batches(rows), dump=dump("d"))
        return warehouse.backup(root, fmt="csv").path


def test_csv_scan_reads_what_the_batches_read(tmp_path: Path) -> None:
    rows = [
        json_row(1, text="", forwarded_from="", media_path=None),
        json_row(2, text='quoted "x", comma', sender_name=None, edited_at=1_700_000_000),
        json_row(3, text="crlf\r\nlf\ncr\rend", reactions=[{"emoji": "👍", "count": 2}]),
        json_row(4, chat_id=77, text="NULL", via_bot="", reply_to_message_id=3),
    ]
    path = _csv_backup(tmp_path, rows)
    scan = read_backup(path, ReadOptions()).direct_scan()

    assert scan is not None and scan.rows == 4
    assert (scan.first_key, scan.last_key) == ((77, 4), (1001, 3))
    scanned = _scanned(scan)
    assert scanned == _batched(path)
    by_id = {row["message_id"]: row for row in scanned}
    assert (by_id[1]["text"], by_id[1]["forwarded_from"], by_id[1]["media_path"]) == ("", "", None)
    assert by_id[2]["sender_name"] is None and by_id[4]["via_bot"] == ""


def test_csv_scan_finds_a_last_row_that_spans_lines(tmp_path: Path) -> None:
    long_text = "line\r\n" * 20_000 + 'a "quoted", comma\rlast'
    path = _csv_backup(tmp_path, [json_row(1), json_row(2), json_row(9, text=long_text)])

    scan = read_backup(path, ReadOptions()).direct_scan()
    assert scan is not None and scan.last_key == (1001, 9)
    assert _scanned(scan)[-1]["text"] == long_text


def test_csv_scan_declines_files_only_batches_can_read(
    backups: dict[str, BackupFile], tmp_path: Path
) -> None:
    raw = backups["csv"].path.read_bytes()
    cases = {
        "header.csv": raw.replace(b'"chat_id"', b'"chat"', 1),
        "empty.csv": raw.split(b"\r\n")[0] + b"\r\n",
        "no_chat.csv": raw.replace(b"\r\n1001,", b"\r\n,", 1),
        "cut.csv": raw[:-40],
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        assert read_backup(path, ReadOptions()).direct_scan() is None, name
    gz = tmp_path / "b.csv.gz"
    gz.write_bytes(gzip.compress(raw))
    assert not hasattr(read_backup(gz, ReadOptions()), "direct_scan")


def _csv_with(path: Path, **cells: str) -> Path:
    """A two-row CSV backup whose first row holds ``cells`` as written, unquoted or not."""
    row = {
        "chat_id": "1001",
        "chat_name": '"Team"',
        "message_id": "5",
        "kind": '"message"',
        "sent_at": '"2022-04-15T05:20:15.000000+00:00"',
        "time_source": '"unixtime"',
        "text": '"hi"',
        "entities": '"[]"',
        "extra": '"{}"',
    }
    first = {**row, **cells}
    second = {**row, "message_id": "6"}
    lines = [",".join(f'"{name}"' for name in FIELD_NAMES)]
    lines += [",".join(r.get(name, "") for name in FIELD_NAMES) for r in (first, second)]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    return path


@pytest.mark.parametrize(
    ("column", "cell"),
    [
        ("message_id", "5"),
        ("message_id", '"5"'),
        ("message_id", "007"),
        ("message_id", " 5"),
        ("message_id", "+5"),
        ("message_id", "5.0"),
        ("message_id", "5.5"),
        ("message_id", "1e3"),
        ("message_id", "1_000"),
        ("message_id", "0x10"),
        ("message_id", "99999999999999999999"),
        ("reply_to_message_id", '""'),
        ("chat_id", ""),
        ("message_id", ""),
        ("sent_at", ""),
        ("kind", ""),
        ("sent_at", "2022-04-15T05:20:15.000000+00:00"),
        ("sent_at", '"2022-04-15T05:20:15Z"'),
        ("sent_at", '"2022-04-15T05:20:15.123+03:00"'),
        ("sent_at", '"2022-04-15 05:20:15.000000+00:00"'),
        ("sent_at", '"2022-04-15T05:20:15.000000"'),
        ("sent_at", '"2022-04-15T05:20:15.123456789+00:00"'),
        ("sent_at", '"2022-04-15T24:00:00.000000+00:00"'),
        ("sent_at", '"2022-04-15T5:20:15.000000+00:00"'),
        ("sent_at", '"2022-02-30T05:20:15.000000+00:00"'),
        ("sent_at", '"2022-04-15"'),
        ("sent_at", '"2022-04-15T05:20:15.000000+00:00 "'),
        ("edited_at", '""'),
        ("text", '""'),
        ("text", ""),
        ("text", 'h"i'),
        ("text", '"a""b"'),
        ("text", '"x\r\ny"'),
        ("text", '"hi"x'),
    ],
)
def test_csv_scan_never_reads_a_cell_unlike_the_batches(
    tmp_path: Path, column: str, cell: str
) -> None:
    """The scan may refuse a cell the batch reader takes (the batches then restore the
    file), but never takes one the batch reader refuses or reads otherwise."""
    path = _csv_with(tmp_path / "b.csv", **{column: cell})
    scan = read_backup(path, ReadOptions()).direct_scan()
    try:
        batched: list[dict[str, object]] | None = _batched(path)
    except DumpError:
        batched = None
    if scan is None:
        return
    try:
        scanned = _scanned(scan)
    except duckdb.Error:
        return
    assert scanned == batched
