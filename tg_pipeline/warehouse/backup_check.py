"""Checking a backup: its manifest, its checksum, and its rows against ``messages``."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pyarrow as pa

from tg_pipeline.errors import DumpError
from tg_pipeline.readers.backup import manifest_path, read_backup
from tg_pipeline.records import MESSAGE_SCHEMA, ReadOptions
from tg_pipeline.warehouse.columns import RECORD_COLUMNS
from tg_pipeline.warehouse.dialect import DUCKDB, Dialect, SqlCon


@dataclass(frozen=True)
class BackupCheck:
    ok: bool
    rows: int
    detail: str


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(4 << 20):
            digest.update(block)
    return digest.hexdigest()


def verify_backup(con: SqlCon, backup: Path, dialect: Dialect = DUCKDB) -> BackupCheck:
    """Manifest rows and checksum match the file, and the file reads back equal to the
    table (every record column, both directions)."""
    backup = Path(backup)
    mpath = manifest_path(backup)
    if not backup.is_file():
        return BackupCheck(False, 0, f"{backup} does not exist")
    if not mpath.is_file():
        return BackupCheck(False, 0, f"manifest {mpath.name} is missing")
    try:
        manifest = orjson.loads(mpath.read_bytes())
    except orjson.JSONDecodeError as exc:
        return BackupCheck(False, 0, f"manifest {mpath.name} is not JSON: {exc}")
    expected_rows = manifest.get("rows")
    size = backup.stat().st_size
    if manifest.get("bytes") is not None and manifest["bytes"] != size:
        return BackupCheck(False, 0, f"file has {size} bytes, manifest says {manifest['bytes']}")
    sha = _sha256(backup)
    if manifest.get("sha256") != sha:
        return BackupCheck(False, 0, "sha256 of the file does not match the manifest")
    try:
        rows, differing = _compare_with_table(con, backup, dialect)
    except DumpError as exc:
        return BackupCheck(False, 0, f"backup does not read back: {exc}")
    if rows != expected_rows:
        return BackupCheck(False, rows, f"file has {rows} rows, manifest says {expected_rows}")
    if differing:
        return BackupCheck(
            False, rows, f"{differing} row(s) differ between the backup and the messages table"
        )
    return BackupCheck(True, rows, f"{rows} rows; checksum, row count and content match")


def _compare_with_table(con: SqlCon, backup: Path, dialect: Dialect = DUCKDB) -> tuple[int, int]:
    """Rows in the file, and rows in either the file or the table but not both."""
    failure: list[BaseException] = []

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from read_backup(backup, ReadOptions(batch_size=50_000))
        except BaseException as exc:
            failure.append(exc)
            raise

    stream = pa.RecordBatchReader.from_batches(MESSAGE_SCHEMA, batches())
    con.register("_tg_backup_stream", stream)
    try:
        for statement in dialect.temp_table_as(
            "_tg_backup_rows",
            f"SELECT {dialect.row_hash(RECORD_COLUMNS)} AS h FROM _tg_backup_stream",
        ):
            con.execute(statement)
    except Exception as exc:
        if failure:
            raise failure[0] from exc
        raise
    finally:
        con.unregister("_tg_backup_stream")
    try:
        row = con.execute(
            f"""
            WITH t AS (SELECT {dialect.row_hash(RECORD_COLUMNS)} AS h FROM messages)
            SELECT (SELECT count(*) FROM _tg_backup_rows),
                   (SELECT count(*) FROM (SELECT h FROM _tg_backup_rows EXCEPT ALL
                                          SELECT h FROM t) a)
                 + (SELECT count(*) FROM (SELECT h FROM t EXCEPT ALL
                                          SELECT h FROM _tg_backup_rows) b)
            """
        ).fetchall()[0]
    finally:
        con.execute("DROP TABLE IF EXISTS _tg_backup_rows")
    assert row is not None
    return int(row[0]), int(row[1])
