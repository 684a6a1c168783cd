"""Backups: format properties, restore equality, hostile values, retention; on both backends."""

from __future__ import annotations

import gzip
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
from tg_pipeline.warehouse.backup import FORMATS, list_backups
from tg_pipeline_tests.warehouse_tests.builders import (
    HOSTILE_TEXTS,
    batches,
    dump,
    fill_for_backup,
    hostile_rows,
    html_row,
    json_row,
    record_rows,
    snapshot,
    sql,
)
from tg_pipeline_tests.warehouse_tests.conftest import AnyWarehouse, Opener


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_backup_restores_into_an_empty_warehouse_as_an_equal_table(
    tmp_path: Path, any_warehouse: AnyWarehouse, open_any: Opener, fmt: str
) -> None:
    fill_for_backup(any_warehouse)
    original = record_rows(any_warehouse)
    made = any_warehouse.backup(tmp_path / "backups", fmt=fmt, row_group_size=64)

    assert made.rows == len(original) and made.fmt == fmt
    assert any_warehouse.verify_backup(made.path).ok
    with open_any(name="restored") as restored:
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
    # Restoring into the any_warehouse it came from changes nothing either.
    again = any_warehouse.ingest(read_backup(made.path, ReadOptions()), dump=dump("self"))
    assert (again.new, again.updated) == (0, 0)


def test_parquet_backup_layout(tmp_path: Path, any_warehouse: AnyWarehouse) -> None:
    fill_for_backup(any_warehouse)
    made = any_warehouse.backup(tmp_path, fmt="parquet", row_group_size=50)
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
    tmp_path: Path, any_warehouse: AnyWarehouse
) -> None:
    any_warehouse.ingest(batches(hostile_rows()[:2]), dump=dump("d"))
    made = any_warehouse.backup(tmp_path, fmt="csv")
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


def test_hostile_values_survive_csv_and_csv_gz(tmp_path: Path, any_warehouse: AnyWarehouse) -> None:
    fill_for_backup(any_warehouse)
    made = any_warehouse.backup(tmp_path / "b", fmt="csv")
    gz = tmp_path / "copy.csv.gz"
    gz.write_bytes(gzip.compress(made.path.read_bytes()))
    expected = any_warehouse.messages(MessageFilter(), limit=None).select(list(FIELD_NAMES))

    for path in (made.path, gz):
        rows = [r for b in read_backup(path, ReadOptions()) for r in b.to_pylist()]
        by_key = {(r["chat_id"], r["message_id"]): r for r in rows}
        for want in expected.to_pylist():
            assert by_key[(want["chat_id"], want["message_id"])] == want
        assert len(rows) == expected.num_rows
    texts = {r["text"] for b in read_backup(gz, ReadOptions()) for r in b.to_pylist()}
    assert set(HOSTILE_TEXTS) <= texts


def test_backup_names_manifest_and_retention(tmp_path: Path, any_warehouse: AnyWarehouse) -> None:
    any_warehouse.ingest(batches([json_row(i) for i in range(1, 10)]), dump=dump("d"))
    made = [any_warehouse.backup(tmp_path, fmt="parquet", keep_last=3) for _ in range(5)]
    csv = any_warehouse.backup(tmp_path, fmt="csv", keep_last=3)

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


def test_backup_of_an_empty_warehouse(tmp_path: Path, any_warehouse: AnyWarehouse) -> None:
    for fmt in ("parquet", "csv"):
        made = any_warehouse.backup(tmp_path, fmt=fmt)
        assert made.rows == 0
        assert sum(b.num_rows for b in read_backup(made.path, ReadOptions())) == 0
        assert any_warehouse.verify_backup(made.path).ok


def test_old_backup_of_a_surrogate_chat_lands_on_the_real_chat(
    tmp_path: Path, any_warehouse: AnyWarehouse
) -> None:
    any_warehouse.ingest(batches([html_row(i) for i in range(1, 4)]), dump=dump("h", "html"))
    old = any_warehouse.backup(tmp_path, fmt="parquet")
    any_warehouse.ingest(batches([json_row(i) for i in range(1, 6)]), dump=dump("j"))
    before = snapshot(any_warehouse)

    result = any_warehouse.ingest(
        read_backup(old.path, ReadOptions()), dump=dump("old", "backup_parquet")
    )

    assert (result.new, result.updated, result.unchanged) == (0, 0, 3)
    assert result.chats == [1001]
    assert snapshot(any_warehouse)["messages"] == before["messages"]
    assert sql(any_warehouse, "SELECT chat_id FROM chats") == [(1001,)]


@pytest.mark.parametrize("damage", ["corrupt page", "truncated"])
def test_damaged_parquet_backup_is_rejected_whole(
    tmp_path: Path, any_warehouse: AnyWarehouse, open_any: Opener, damage: str
) -> None:
    any_warehouse.ingest(batches([json_row(i, chat_id=5) for i in range(1, 50)]), dump=dump("a"))
    with open_any(name="source") as other:
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
    before = snapshot(any_warehouse)

    with pytest.raises(DumpError) as caught:
        if damage == "truncated":
            # open_dump already refuses a file without its footer; the reader must too.
            any_warehouse.ingest(read_backup(made.path, ReadOptions()), dump=dump("bad"))
        else:
            with open_dump(made.path) as opened:
                any_warehouse.ingest(read_dump(opened), dump=dump("bad", "backup_parquet"))

    assert caught.value.file == str(made.path)
    # The scan gives up on the damaged page; the batch reader then names its row group.
    assert caught.value.position == ("footer" if damage == "truncated" else "row group 3")
    assert snapshot(any_warehouse) == before


#: Columns whose per-row-group statistics readers use: the keys (min/max and null counts,
#: for the restore's direct scan) and the columns a reader may skip row groups by.
_KEY_COLUMNS = ("chat_id", "message_id")


_STATISTICS_COLUMNS = ("kind", "sent_at", "edited_at", "time_source", "sender_id")


def _two_chats(warehouse: AnyWarehouse, *, in_key_order: bool) -> list[tuple[int, int]]:
    """Two chats of 130 messages, one dump each, ingested in or against key order; the
    keys in key order. A DuckDB table stored in key order is backed up by one scan, any
    other by key ranges; PostgreSQL's backup always reads in key order."""
    chats = [
        [
            json_row(i, chat_id=chat, edited_at=json_row(i)["sent_at"] + 5 if i % 9 else None)
            for i in range(1, 131)
        ]
        for chat in (7001, 7002)
    ]
    for n, rows in enumerate(chats if in_key_order else chats[::-1]):
        warehouse.ingest(batches(rows, size=50), dump=dump(f"chat{n}"))
    keys = [(int(c), int(m)) for c, m in sql(warehouse, "SELECT chat_id, message_id FROM messages")]
    if isinstance(warehouse, Warehouse):  # DuckDB's storage order, as its rowids give it
        stored = sql(warehouse, "SELECT chat_id, message_id FROM messages ORDER BY rowid")
        assert (stored == sorted(stored)) == in_key_order
    return sorted(keys)


@pytest.mark.parametrize("in_key_order", [True, False], ids=["stored in key order", "not"])
def test_parquet_backup_file_in_detail(
    tmp_path: Path, any_warehouse: AnyWarehouse, in_key_order: bool
) -> None:
    keys = _two_chats(any_warehouse, in_key_order=in_key_order)
    made = any_warehouse.backup(tmp_path, fmt="parquet", row_group_size=64)
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
    assert any_warehouse.verify_backup(made.path).ok


def test_csv_backup_is_in_key_order_however_the_table_is_stored(
    tmp_path: Path, any_warehouse: AnyWarehouse
) -> None:
    keys = _two_chats(any_warehouse, in_key_order=False)
    made = any_warehouse.backup(tmp_path, fmt="csv")

    read = [
        (row["chat_id"], row["message_id"])
        for batch in read_backup(made.path, ReadOptions())
        for row in batch.select(list(_KEY_COLUMNS)).to_pylist()
    ]
    assert read == keys
    assert any_warehouse.verify_backup(made.path).ok


def test_backup_leaves_the_connection_settings_as_it_found_them(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    """DuckDB only: the settings are the DuckDB connection's, which its backup tunes."""
    _two_chats(warehouse, in_key_order=True)
    names = ("threads", "memory_limit", "preserve_insertion_order")
    query = "SELECT current_setting(?)"
    before = [warehouse.con.execute(query, [name]).fetchall() for name in names]

    for fmt in FORMATS:
        warehouse.backup(tmp_path, fmt=fmt)

    assert [warehouse.con.execute(query, [name]).fetchall() for name in names] == before
