"""Backups: format properties, restore equality, hostile values, retention, verification."""

from __future__ import annotations

import gzip
import hashlib
import resource
import shutil
from datetime import datetime
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest

from tg_pipeline.errors import DumpError
from tg_pipeline.readers import open_dump, read_dump
from tg_pipeline.readers.backup import manifest_path, read_backup
from tg_pipeline.records import FIELD_NAMES, MESSAGE_SCHEMA, ReadOptions
from tg_pipeline.warehouse import MessageFilter, Warehouse
from tg_pipeline.warehouse import backup as backup_module
from tg_pipeline.warehouse.backup import FORMATS, list_backups
from tg_pipeline_tests.warehouse_tests.builders import (
    batches,
    dump,
    html_row,
    json_row,
    record_rows,
    snapshot,
)

HOSTILE_TEXTS = [
    "",
    "plain",
    'she said "hi", then left',
    "line one\nline two",
    "windows\r\nline",
    "lone\rcarriage",
    "comma, separated, values",
    "emoji 👍🏽 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    '"',
    '""',
    "NULL",
    "\\N",
    "  padded  ",
    "'; DROP TABLE messages; --",
    "tab\tinside",
]


def _hostile_rows() -> list[dict[str, object]]:
    rows = []
    for i, text in enumerate(HOSTILE_TEXTS, start=1):
        rows.append(
            json_row(
                i,
                text=text,
                entities=[{"type": "plain", "text": text}, {"type": "link", "href": 'a"b,c'}],
                sender_name=text or None,
                forwarded_from="" if i % 2 else None,
                via_bot=text if i % 3 else None,
                reactions=[{"emoji": "👍", "count": i, "nested": {"q": '"x"\n'}}]
                if i % 2
                else None,
                extra={"raw": text, "list": [1, None, "a,b"]},
                media_path="" if i % 4 == 0 else None,
                edited_at=json_row(i)["sent_at"] + 5 if i % 5 == 0 else None,
            )
        )
    rows.append(html_row(500, chat_name='HTML chat, "quoted"\nname'))
    return rows


def _filled(warehouse: Warehouse) -> None:
    warehouse.ingest(batches(_hostile_rows(), size=4), dump=dump("hostile"))
    warehouse.ingest(
        batches([json_row(i, chat_id=2000 + i % 3) for i in range(1, 300)], size=50),
        dump=dump("bulk"),
    )


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_backup_restores_into_an_empty_warehouse_as_an_equal_table(
    tmp_path: Path, warehouse: Warehouse, fmt: str
) -> None:
    _filled(warehouse)
    original = record_rows(warehouse)
    made = warehouse.backup(tmp_path / "backups", fmt=fmt, row_group_size=64)

    assert made.rows == len(original) and made.fmt == fmt
    assert warehouse.verify_backup(made.path).ok
    with Warehouse.open(tmp_path / "restored.duckdb") as restored:
        first = restored.ingest(read_backup(made.path, ReadOptions(batch_size=37)), dump=dump("r"))
        assert (first.new, first.updated, first.unchanged) == (len(original), 0, 0)
        assert record_rows(restored) == original
        assert restored.verify_backup(made.path).ok
        before = snapshot(restored)
        second = restored.ingest(read_backup(made.path, ReadOptions()), dump=dump("r2"))
        assert (second.new, second.updated, second.unchanged) == (0, 0, len(original))
        after = snapshot(restored)
        assert after["messages"] == before["messages"]
        assert after["user_message_counts"] == before["user_message_counts"]
    # Restoring into the warehouse it came from changes nothing either.
    again = warehouse.ingest(read_backup(made.path, ReadOptions()), dump=dump("self"))
    assert (again.new, again.updated) == (0, 0)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_backup_written_back_piece_by_piece_is_whole(
    tmp_path: Path, warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    """Write-back started every 2 kB: the file goes to disk piece by piece while it is
    written, and still holds every row and matches its checksum."""
    monkeypatch.setattr(backup_module, "_HANDOFF_BYTES", 512)
    monkeypatch.setattr(backup_module, "_WRITEBACK_BYTES", 2048)
    _filled(warehouse)
    original = record_rows(warehouse)
    made = warehouse.backup(tmp_path / "backups", fmt=fmt, row_group_size=64)

    assert made.bytes > 10 * 2048
    assert made.sha256 == hashlib.sha256(made.path.read_bytes()).hexdigest()
    assert warehouse.verify_backup(made.path).ok
    with Warehouse.open(tmp_path / "restored.duckdb") as restored:
        restored.ingest(read_backup(made.path, ReadOptions()), dump=dump("r"))
        assert record_rows(restored) == original


def test_parquet_backup_layout(tmp_path: Path, warehouse: Warehouse) -> None:
    _filled(warehouse)
    made = warehouse.backup(tmp_path, fmt="parquet", row_group_size=50)
    file = pq.ParquetFile(made.path)

    assert file.schema_arrow.names == list(FIELD_NAMES)
    assert file.metadata.num_row_groups == -(-made.rows // 50)
    assert {
        file.metadata.row_group(i).num_rows for i in range(file.metadata.num_row_groups - 1)
    } == {50}
    assert file.metadata.row_group(0).column(0).compression == "ZSTD"
    meta = file.metadata.metadata
    assert meta[b"tg_pipeline.schema_version"] == b"1"
    assert meta[b"tg_pipeline.row_count"] == str(made.rows).encode()
    keys = file.read(columns=["chat_id", "message_id"]).to_pylist()
    pairs = [(k["chat_id"], k["message_id"]) for k in keys]
    assert pairs == sorted(pairs)


def test_csv_backup_is_rfc4180_with_null_distinct_from_empty(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    warehouse.ingest(batches(_hostile_rows()[:2]), dump=dump("d"))
    made = warehouse.backup(tmp_path, fmt="csv")
    raw = made.path.read_bytes()
    header, first = raw.split(b"\r\n")[:2]

    assert header.decode().replace('"', "").split(",") == list(FIELD_NAMES)
    assert raw.endswith(b"\r\n")
    cells = first.split(b",")
    # message 1: text "" (quoted empty), edited_at NULL (bare empty), sent_at ISO with offset
    assert cells[FIELD_NAMES.index("text")] == b'""'
    assert cells[FIELD_NAMES.index("edited_at")] == b""
    assert cells[FIELD_NAMES.index("sent_at")] == b'"2022-08-31T09:01:46.000000+00:00"'
    restored = next(read_backup(made.path, ReadOptions())).to_pylist()
    assert restored[0]["text"] == "" and restored[0]["sender_name"] is None
    assert restored[0]["forwarded_from"] == "" and restored[1]["forwarded_from"] is None


def test_hostile_values_survive_csv_and_csv_gz(tmp_path: Path, warehouse: Warehouse) -> None:
    _filled(warehouse)
    made = warehouse.backup(tmp_path / "b", fmt="csv")
    gz = tmp_path / "copy.csv.gz"
    gz.write_bytes(gzip.compress(made.path.read_bytes()))
    expected = warehouse.messages(MessageFilter(), limit=None).select(list(FIELD_NAMES))

    for path in (made.path, gz):
        rows = [r for b in read_backup(path, ReadOptions()) for r in b.to_pylist()]
        by_key = {(r["chat_id"], r["message_id"]): r for r in rows}
        for want in expected.to_pylist():
            assert by_key[(want["chat_id"], want["message_id"])] == want
        assert len(rows) == expected.num_rows
    texts = {r["text"] for b in read_backup(gz, ReadOptions()) for r in b.to_pylist()}
    assert set(HOSTILE_TEXTS) <= texts


def test_backup_names_manifest_and_retention(tmp_path: Path, warehouse: Warehouse) -> None:
    warehouse.ingest(batches([json_row(i) for i in range(1, 10)]), dump=dump("d"))
    made = [warehouse.backup(tmp_path, fmt="parquet", keep_last=3) for _ in range(5)]
    csv = warehouse.backup(tmp_path, fmt="csv", keep_last=3)

    assert len({m.path.name for m in made}) == 5
    kept = list_backups(tmp_path, "parquet")
    assert kept == [m.path for m in made[-3:]]
    assert all(m.manifest_path.exists() for m in made[-3:])
    assert not any(m.path.exists() or m.manifest_path.exists() for m in made[:2])
    assert list_backups(tmp_path, "csv") == [csv.path]
    assert not list(tmp_path.glob(".*tmp"))
    manifest = orjson.loads(made[-1].manifest_path.read_bytes())
    assert manifest["file"] == made[-1].path.name
    assert manifest["rows"] == 9 and manifest["sha256"] == made[-1].sha256
    assert manifest["bytes"] == made[-1].path.stat().st_size == made[-1].bytes
    assert manifest["schema_version"] == 1 and manifest["format"] == "parquet"
    assert manifest["columns"] == list(FIELD_NAMES)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_verify_backup_detects_tampering(tmp_path: Path, warehouse: Warehouse, fmt: str) -> None:
    warehouse.ingest(batches([json_row(i) for i in range(1, 50)]), dump=dump("d"))
    made = warehouse.backup(tmp_path / "b", fmt=fmt)
    assert warehouse.verify_backup(made.path).ok

    # A flipped byte: the checksum no longer matches.
    tampered = tmp_path / "t" / made.path.name
    tampered.parent.mkdir()
    shutil.copy(made.path, tampered)
    shutil.copy(made.manifest_path, tampered.parent / made.manifest_path.name)
    data = bytearray(tampered.read_bytes())
    data[len(data) // 2] ^= 0x01
    tampered.write_bytes(bytes(data))
    check = warehouse.verify_backup(tampered)
    assert not check.ok and "sha256" in check.detail

    # The table changed after the backup: the file no longer reads back equal.
    warehouse.con.execute("UPDATE messages SET text = 'changed' WHERE message_id = 7")
    check = warehouse.verify_backup(made.path)
    assert not check.ok and "differ" in check.detail

    made.manifest_path.unlink()
    assert "manifest" in warehouse.verify_backup(made.path).detail


def test_backup_of_an_empty_warehouse(tmp_path: Path, warehouse: Warehouse) -> None:
    for fmt in ("parquet", "csv"):
        made = warehouse.backup(tmp_path, fmt=fmt)
        assert made.rows == 0
        assert sum(b.num_rows for b in read_backup(made.path, ReadOptions())) == 0
        assert warehouse.verify_backup(made.path).ok


def test_old_backup_of_a_surrogate_chat_lands_on_the_real_chat(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    warehouse.ingest(batches([html_row(i) for i in range(1, 4)]), dump=dump("h", "html"))
    old = warehouse.backup(tmp_path, fmt="parquet")
    warehouse.ingest(batches([json_row(i) for i in range(1, 6)]), dump=dump("j"))
    before = snapshot(warehouse)

    result = warehouse.ingest(
        read_backup(old.path, ReadOptions()), dump=dump("old", "backup_parquet")
    )

    assert (result.new, result.updated, result.unchanged) == (0, 0, 3)
    assert result.chats == [1001]
    assert snapshot(warehouse)["messages"] == before["messages"]
    assert warehouse.con.execute("SELECT chat_id FROM chats").fetchall() == [(1001,)]


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
    rows = [r for r in _hostile_rows() if r["chat_id"] is not None]
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


@pytest.mark.parametrize("damage", ["corrupt page", "truncated"])
def test_damaged_parquet_backup_is_rejected_whole(
    tmp_path: Path, warehouse: Warehouse, damage: str
) -> None:
    warehouse.ingest(batches([json_row(i, chat_id=5) for i in range(1, 50)]), dump=dump("a"))
    source = tmp_path / "source.duckdb"
    with Warehouse.open(source) as other:
        other.ingest(
            batches([json_row(i, chat_id=7000 + i % 4) for i in range(1, 400)], size=50),
            dump=dump("b"),
        )
        made = other.backup(tmp_path / "backups", fmt="parquet", row_group_size=64)
    data = bytearray(made.path.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:
        start = pq.ParquetFile(made.path).metadata.row_group(3).column(10).data_page_offset
        data[start : start + 64] = b"\xff" * 64
    made.path.write_bytes(bytes(data))
    manifest_path(made.path).unlink()
    before = snapshot(warehouse)

    with pytest.raises(DumpError) as caught:
        if damage == "truncated":
            # open_dump already refuses a file without its footer; the reader must too.
            warehouse.ingest(read_backup(made.path, ReadOptions()), dump=dump("bad"))
        else:
            with open_dump(made.path) as opened:
                warehouse.ingest(read_dump(opened), dump=dump("bad", "backup_parquet"))

    assert caught.value.file == str(made.path)
    # The scan gives up on the damaged page; the batch reader then names its row group.
    assert caught.value.position == ("footer" if damage == "truncated" else "row group 3")
    assert snapshot(warehouse) == before


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


#: Columns whose per-row-group statistics readers use: the keys (min/max and null counts,
#: for the restore's direct scan) and the columns a reader may skip row groups by.
_KEY_COLUMNS = ("chat_id", "message_id")
_STATISTICS_COLUMNS = ("kind", "sent_at", "edited_at", "time_source", "sender_id")


def _two_chats(warehouse: Warehouse, *, in_key_order: bool) -> list[tuple[int, int]]:
    """Two chats of 130 messages, one dump each, ingested in or against key order; the
    keys in key order. A table stored in key order is backed up by one scan, any other
    by key ranges."""
    chats = [
        [
            json_row(i, chat_id=chat, edited_at=json_row(i)["sent_at"] + 5 if i % 9 else None)
            for i in range(1, 131)
        ]
        for chat in (7001, 7002)
    ]
    for n, rows in enumerate(chats if in_key_order else chats[::-1]):
        warehouse.ingest(batches(rows, size=50), dump=dump(f"chat{n}"))
    stored = warehouse.con.execute("SELECT chat_id, message_id FROM messages ORDER BY rowid")
    keys = [(int(c), int(m)) for c, m in stored.fetchall()]
    assert (keys == sorted(keys)) == in_key_order
    return sorted(keys)


@pytest.mark.parametrize("in_key_order", [True, False], ids=["stored in key order", "not"])
def test_parquet_backup_file_in_detail(
    tmp_path: Path, warehouse: Warehouse, in_key_order: bool
) -> None:
    keys = _two_chats(warehouse, in_key_order=in_key_order)
    made = warehouse.backup(tmp_path, fmt="parquet", row_group_size=64)
    file = pq.ParquetFile(made.path)
    meta = file.metadata

    assert file.schema_arrow.equals(MESSAGE_SCHEMA)
    sizes = [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
    assert sizes == [64, 64, 64, 64, 4]
    read = file.read(columns=list(_KEY_COLUMNS))
    assert list(zip(*(read[k].to_pylist() for k in _KEY_COLUMNS), strict=True)) == keys
    start = 0
    for g, size in enumerate(sizes):
        group = meta.row_group(g)
        columns = {
            group.column(c).path_in_schema: group.column(c) for c in range(group.num_columns)
        }
        assert {c.compression for c in columns.values()} == {"ZSTD"}
        for position, name in enumerate(_KEY_COLUMNS):
            stats = columns[name].statistics
            assert stats is not None and stats.has_null_count and stats.null_count == 0
            assert (stats.min, stats.max) == (
                min(k[position] for k in keys[start : start + size]),
                max(k[position] for k in keys[start : start + size]),
            )
        for name in _STATISTICS_COLUMNS:
            stats = columns[name].statistics
            assert stats is not None and stats.has_null_count and stats.has_min_max
        start += size
    kv = meta.metadata
    assert kv[b"tg_pipeline.schema_version"] == b"1"
    assert kv[b"tg_pipeline.row_count"] == b"260"
    assert kv[b"tg_pipeline.order"] == b"chat_id,message_id"
    created = datetime.fromisoformat(kv[b"tg_pipeline.created_at"].decode())
    assert created.utcoffset() is not None
    assert read_backup(made.path, ReadOptions()).direct_scan() is not None
    assert warehouse.verify_backup(made.path).ok


def test_csv_backup_is_in_key_order_however_the_table_is_stored(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    keys = _two_chats(warehouse, in_key_order=False)
    made = warehouse.backup(tmp_path, fmt="csv")

    read = [
        (row["chat_id"], row["message_id"])
        for batch in read_backup(made.path, ReadOptions())
        for row in batch.select(list(_KEY_COLUMNS)).to_pylist()
    ]
    assert read == keys
    assert warehouse.verify_backup(made.path).ok


def test_backup_leaves_the_connection_settings_as_it_found_them(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    _two_chats(warehouse, in_key_order=True)
    names = ("threads", "memory_limit", "preserve_insertion_order")
    query = "SELECT current_setting(?)"
    before = [warehouse.con.execute(query, [name]).fetchall() for name in names]

    for fmt in FORMATS:
        warehouse.backup(tmp_path, fmt=fmt)

    assert [warehouse.con.execute(query, [name]).fetchall() for name in names] == before


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_backup_that_cannot_be_written_leaves_no_file_and_the_connection_usable(
    tmp_path: Path, warehouse: Warehouse, fmt: str
) -> None:
    """The write fails while the scan still has rows to give (the file may not outgrow
    a size limit the table's backup exceeds many times); the connection must still take
    the ROLLBACK and whatever comes next."""
    warehouse.ingest(batches((json_row(i) for i in range(1, 50_001)), size=10_000), dump=dump("d"))
    dest = tmp_path / "backups"
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, limits[1]))
    try:
        with pytest.raises(OSError):
            warehouse.backup(dest, fmt=fmt, row_group_size=1_000)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)

    assert list(dest.iterdir()) == []
    assert warehouse.con.execute("SELECT count(*) FROM messages").fetchall() == [(50_000,)]
    made = warehouse.backup(dest, fmt=fmt, row_group_size=1_000)
    assert warehouse.verify_backup(made.path).ok
