"""Checking a backup against its manifest and the table, on both backends."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tg_pipeline_tests.warehouse_tests.builders import (
    batches,
    dump,
    json_row,
    sql,
)
from tg_pipeline_tests.warehouse_tests.conftest import AnyWarehouse


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_verify_backup_detects_tampering(
    tmp_path: Path, any_warehouse: AnyWarehouse, fmt: str
) -> None:
    any_warehouse.ingest(batches([json_row(i) for i in range(1, 50)]), dump=dump("d"))
    made = any_warehouse.backup(tmp_path / "b", fmt=fmt)
    assert any_warehouse.verify_backup(made.path).ok

    # A flipped byte: the checksum no longer matches.
    tampered = tmp_path / "t" / made.path.name
    tampered.parent.mkdir()
    shutil.copy(made.path, tampered)
    shutil.copy(made.manifest_path, tampered.parent / made.manifest_path.name)
    data = bytearray(tampered.read_bytes())
    data[len(data) // 2] ^= 0x01
    tampered.write_bytes(bytes(data))
    check = any_warehouse.verify_backup(tampered)
    assert not check.ok and "sha256" in check.detail

    # The table changed after the backup: the file no longer reads back equal.
    sql(any_warehouse, "UPDATE messages SET text = 'changed' WHERE message_id = 7")
    check = any_warehouse.verify_backup(made.path)
    assert not check.ok and "differ" in check.detail

    made.manifest_path.unlink()
    assert "manifest" in any_warehouse.verify_backup(made.path).detail
