"""Backups of a DuckDB warehouse: one snapshot of ``messages``, scanned in key order
(:mod:`.backup_order`) on one thread with a small buffer pool, written by :mod:`.backup`."""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from tg_pipeline.warehouse.backup import BackupFile, Snapshot, write_backup_from
from tg_pipeline.warehouse.backup_order import key_ordered
from tg_pipeline.warehouse.dialect import DUCKDB, Dialect

_BACKUP_MEMORY_LIMIT = "64MB"


@contextlib.contextmanager
def _backup_settings(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Scan in storage order (see :mod:`.backup_order`), with a small buffer pool and on
    one thread. A backup only scans, and the memory is better left to the row groups in
    flight. The encoder keeps a core busy; a second DuckDB thread would compete with it,
    and keeping storage order across two threads costs more CPU than one thread alone."""
    wanted = {
        "preserve_insertion_order": "true",
        "memory_limit": f"'{_BACKUP_MEMORY_LIMIT}'",
        "threads": "1",
    }
    before = {name: con.execute("SELECT current_setting(?)", [name]).fetchall() for name in wanted}
    for name, value in wanted.items():
        con.execute(f"SET {name} = {value}")
    try:
        yield
    finally:
        for name, rows in before.items():
            con.execute(f"SET {name} = ?", [rows[0][0]])


@dataclass
class _DuckDBSnapshot:
    con: duckdb.DuckDBPyConnection
    rows: int
    dialect: Dialect = DUCKDB

    def ordered(
        self, select: str, row_group_size: int
    ) -> tuple[Generator[pa.Table, None, None], int]:
        return key_ordered(self.con, select, row_group_size)


@contextlib.contextmanager
def _duckdb_snapshot(con: duckdb.DuckDBPyConnection) -> Iterator[Snapshot]:
    with _backup_settings(con):
        con.execute("BEGIN TRANSACTION")
        try:
            row = con.execute("SELECT count(*) FROM messages").fetchall()[0]
            yield _DuckDBSnapshot(con, int(row[0]) if row else 0)
            con.execute("COMMIT")
        except BaseException:
            # A COMMIT that failed has rolled back already; its error is the one to report.
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            raise


def write_backup(
    con: duckdb.DuckDBPyConnection,
    dest_dir: Path,
    *,
    fmt: str,
    row_group_size: int = 100_000,
    keep_last: int = 10,
) -> BackupFile:
    """Write one backup of ``messages`` and its manifest; then apply retention."""
    return write_backup_from(
        _duckdb_snapshot(con),
        dest_dir,
        fmt=fmt,
        row_group_size=row_group_size,
        keep_last=keep_last,
    )
