"""Backups: format properties, restore equality, hostile values, retention, verification."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest

from tg_pipeline.errors import DumpError
from tg_pipeline.readers import open_dump, read_dump
from tg_pipeline.readers.backup import manifest_path, read_backup
from tg_pipeline.records import FIELD_NAMES, ReadOptions
from tg_pipeline.warehouse import MessageFilter, Warehouse
from tg_pipeline.warehouse.backup import list_backups
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


def test_parquet_restore_by_direct_scan_equals_the_batch_restore(tmp_path: Path) -> None:
    rows = [r for r in _hostile_rows() if r["chat_id"] is not None]
    rows += [json_row(i, chat_id=2000 + i % 3, sender_name=f"n{i % 7}") for i in range(1, 300)]
    with Warehouse.open(tmp_path / "source.duckdb") as source:
        source.ingest(batches(rows, size=40), dump=dump("src"))
        original = record_rows(source)
        made = source.backup(tmp_path / "backups", fmt="parquet", row_group_size=64)

    backup = read_backup(made.path, ReadOptions(batch_size=37))
    assert backup.scan_parquet() is not None
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
    assert caught.value.position == ("footer" if damage == "truncated" else "row data")
    assert snapshot(warehouse) == before
