"""Writing a backup file: whole when written piece by piece, nothing left when it fails;
on both backends."""

from __future__ import annotations

import hashlib
import resource
from pathlib import Path

import pytest

from tg_pipeline.readers.backup import read_backup
from tg_pipeline.records import ReadOptions
from tg_pipeline.warehouse import backup_file
from tg_pipeline.warehouse.backup import FORMATS
from tg_pipeline_tests.warehouse_tests.builders import (
    batches,
    dump,
    fill_for_backup,
    json_row,
    record_rows,
    sql,
)
from tg_pipeline_tests.warehouse_tests.conftest import AnyWarehouse, Opener


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_backup_written_back_piece_by_piece_is_whole(
    tmp_path: Path,
    any_warehouse: AnyWarehouse,
    open_any: Opener,
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
) -> None:
    """Write-back started every 2 kB: the file goes to disk piece by piece while it is
    written, and still holds every row and matches its checksum."""
    monkeypatch.setattr(backup_file, "_HANDOFF_BYTES", 512)
    monkeypatch.setattr(backup_file, "_WRITEBACK_BYTES", 2048)
    fill_for_backup(any_warehouse)
    original = record_rows(any_warehouse)
    made = any_warehouse.backup(tmp_path / "backups", fmt=fmt, row_group_size=64)

    assert made.bytes > 10 * 2048
    assert made.sha256 == hashlib.sha256(made.path.read_bytes()).hexdigest()
    assert any_warehouse.verify_backup(made.path).ok
    with open_any(name="restored") as restored:
        restored.ingest(read_backup(made.path, ReadOptions()), dump=dump("r"))
        assert record_rows(restored) == original


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_backup_that_cannot_be_written_leaves_no_file_and_the_connection_usable(
    tmp_path: Path, any_warehouse: AnyWarehouse, fmt: str
) -> None:
    """The write fails while the scan still has rows to give (the file may not outgrow
    a size limit the table's backup exceeds many times); the connection must still take
    the ROLLBACK and whatever comes next."""
    any_warehouse.ingest(
        batches((json_row(i) for i in range(1, 50_001)), size=10_000), dump=dump("d")
    )
    dest = tmp_path / "backups"
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, limits[1]))
    try:
        with pytest.raises(OSError):
            any_warehouse.backup(dest, fmt=fmt, row_group_size=1_000)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)

    assert list(dest.iterdir()) == []
    assert sql(any_warehouse, "SELECT count(*) FROM messages") == [(50_000,)]
    made = any_warehouse.backup(dest, fmt=fmt, row_group_size=1_000)
    assert any_warehouse.verify_backup(made.path).ok
