"""Checking a backup against its manifest and the table."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tg_pipeline.warehouse import Warehouse
from tg_pipeline_tests.warehouse_tests.builders import (
    batches,
    dump,
    json_row,
)


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
