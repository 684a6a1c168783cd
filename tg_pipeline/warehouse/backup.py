"""Writing backups of ``messages`` as Parquet and CSV, each with a manifest; retention.

A backup holds exactly the record columns (:data:`tg_pipeline.records.FIELD_NAMES`) in key
order ``(chat_id, message_id)`` (:mod:`.backup_order`), so restoring it through the
ordinary upsert gives the same table back. :mod:`.backup_check` checks one.

Encoding the Parquet file (zstd, in Arrow) runs on one thread and is most of a Parquet
backup's time, so the rest is arranged around it: DuckDB reads on the other core (one
DuckDB thread; a second only competes with the encoder), a whole row group ahead, so the
encoder never waits for the next; dictionary pages and statistics are kept to the
columns where they pay. DuckDB's own ``COPY … (FORMAT parquet)`` cannot write this file:
it fills row groups in whole 2048-row vectors, so the size asked for is only a minimum;
it marks columns required or optional by the data rather than by
:data:`~tg_pipeline.records.MESSAGE_SCHEMA` (so a restore could not scan the file
directly); and under the warehouse's memory limit it runs out of memory.

Files and then their manifests are written as :mod:`.backup_file` describes. Names are
``messages-<UTC time with µs>-<sha256 prefix>.<ext>``: they sort by time, differ for
every backup, and are never reused.

CSV follows RFC 4180: UTF-8, CRLF line ends, a header of the column names, every text
value quoted (so ``""`` is an empty string) and NULL as an empty unquoted cell. Instants
are ISO-8601 in UTC with an explicit ``+00:00`` offset.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Generator, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from tg_pipeline.errors import TgPipelineError
from tg_pipeline.readers.backup import ROW_COUNT_KEY, SCHEMA_VERSION_KEY, manifest_path
from tg_pipeline.records import FIELD_NAMES, MESSAGE_SCHEMA, SCHEMA_VERSION
from tg_pipeline.warehouse.backup_file import (
    HashingFile,
    fsync_dir,
    place,
    remove_orphan_temp_files,
)
from tg_pipeline.warehouse.columns import RECORD_COLUMNS
from tg_pipeline.warehouse.dialect import Dialect
from tg_pipeline.warehouse.prefetch import Prefetch

FORMATS = ("parquet", "csv")
#: zstd's fastest positive level: higher levels cost more encoding for a little smaller
#: file, and negative levels save little time on these texts for a much larger file.
_ZSTD_LEVEL = 1
#: How many tables the reader may hold ready for the CSV writer, which takes them one by
#: one: a few smooth out the two sides; more only hold memory.
_CSV_TABLES_AHEAD = 4
_NAME = re.compile(r"^messages-(\d{8}T\d{12}Z)-([0-9a-f]{12})\.(parquet|csv)$")
#: Columns with few distinct values; dictionary pages for the others (texts, JSON, ids,
#: instants) cost memory and time and compress worse than zstd alone.
_DICTIONARY_COLUMNS = (
    "chat_id",
    "chat_name",
    "chat_type",
    "kind",
    "time_source",
    "sender_id",
    "sender_name",
    "forwarded_from",
    "via_bot",
    "author",
    "media_type",
    "action",
    "actor",
    "source_file",
)
#: Columns worth min/max statistics for readers that skip row groups; computing them for
#: long texts and JSON costs time and helps no one.
_STATISTICS_COLUMNS = (
    "chat_id",
    "message_id",
    "kind",
    "sent_at",
    "edited_at",
    "time_source",
    "sender_id",
    "reply_to_message_id",
)


@dataclass(frozen=True)
class BackupFile:
    path: Path
    manifest_path: Path
    rows: int
    sha256: str
    bytes: int
    fmt: str


def _select_list(fmt: str, dialect: Dialect) -> str:
    if fmt == "parquet":
        return ", ".join(RECORD_COLUMNS)
    return ", ".join(
        f"{dialect.iso_utc(c)} AS {c}" if c in ("sent_at", "edited_at") else c
        for c in RECORD_COLUMNS
    )


def _as_schema(table: pa.Table, schema: pa.Schema) -> pa.Table:
    return pa.Table.from_arrays([table.column(f.name).cast(f.type) for f in schema], schema=schema)


def _conformed(tables: Generator[pa.Table, None, None], schema: pa.Schema) -> Iterator[pa.Table]:
    """``tables`` in ``schema``, on the reader's thread, which has time to spare. Closing
    this closes ``tables`` too: a scan left open would refuse the connection any further
    statement, even the ROLLBACK after a failed write."""
    with contextlib.closing(tables):
        for table in tables:
            yield _as_schema(table, schema)


def _csv_schema() -> pa.Schema:
    return pa.schema(
        [
            pa.field(f.name, pa.string()) if f.name in ("sent_at", "edited_at") else f
            for f in MESSAGE_SCHEMA
        ]
    )


def _row_groups(chunks: Iterable[pa.Table], size: int) -> Iterator[pa.Table]:
    """Re-cut tables in key order into tables of exactly ``size`` rows (the last one
    less). Only slices and lists of chunks: no row is copied."""
    pending: list[pa.Table] = []
    held = 0
    for chunk in chunks:
        pending.append(chunk)
        held += chunk.num_rows
        while held >= size:
            joined = pa.concat_tables(pending)
            yield joined.slice(0, size)
            rest = joined.slice(size)
            pending, held = ([rest], rest.num_rows) if rest.num_rows else ([], 0)
    if held:
        yield pa.concat_tables(pending)


class Snapshot(Protocol):
    """One consistent view of ``messages`` that a backup is written from."""

    rows: int
    dialect: Dialect

    def ordered(
        self, select: str, row_group_size: int
    ) -> tuple[Generator[pa.Table, None, None], int]:
        """``select`` over every row in key order, as tables of at most the returned size."""
        ...


def _write(
    snapshot: Snapshot,
    sink: HashingFile,
    fmt: str,
    rows: int,
    row_group_size: int,
    created: datetime,
) -> None:
    schema = _parquet_schema(rows, created) if fmt == "parquet" else _csv_schema()
    ordered, most = snapshot.ordered(_select_list(fmt, snapshot.dialect), row_group_size)
    conformed = _conformed(ordered, schema)
    if fmt == "parquet":
        # A row group is encoded at once: with a whole one read ahead, the encoder, the
        # slowest part of a backup, never waits for the next.
        with Prefetch(conformed, depth=-(-row_group_size // most) + 1) as tables:
            _write_parquet(sink, schema, tables, row_group_size)
    else:
        with Prefetch(conformed, depth=_CSV_TABLES_AHEAD) as tables:
            _write_csv(sink, schema, tables)


def _parquet_schema(rows: int, created: datetime) -> pa.Schema:
    meta = dict(MESSAGE_SCHEMA.metadata or {})
    meta[SCHEMA_VERSION_KEY] = str(SCHEMA_VERSION).encode()
    meta[ROW_COUNT_KEY] = str(rows).encode()
    meta[b"tg_pipeline.order"] = b"chat_id,message_id"
    meta[b"tg_pipeline.created_at"] = created.isoformat().encode()
    return MESSAGE_SCHEMA.with_metadata(meta)


def _write_parquet(
    sink: HashingFile, schema: pa.Schema, tables: Iterable[pa.Table], row_group_size: int
) -> None:
    with pq.ParquetWriter(
        pa.PythonFile(sink, mode="w"),
        schema,
        compression="zstd",
        compression_level=_ZSTD_LEVEL,
        use_dictionary=list(_DICTIONARY_COLUMNS),
        write_statistics=list(_STATISTICS_COLUMNS),
    ) as writer:
        written = 0
        for group in _row_groups(tables, row_group_size):
            writer.write_table(group, row_group_size=row_group_size)
            written += group.num_rows
        if not written:
            writer.write_table(schema.empty_table())


def _write_csv(sink: HashingFile, schema: pa.Schema, tables: Iterable[pa.Table]) -> None:
    options = pacsv.WriteOptions(include_header=True, eol="\r\n", batch_size=8192)
    with pacsv.CSVWriter(pa.PythonFile(sink, mode="w"), schema, write_options=options) as writer:
        for table in tables:
            writer.write_table(table)


def write_backup_from(
    snapshot: AbstractContextManager[Snapshot],
    dest_dir: Path,
    *,
    fmt: str,
    row_group_size: int = 100_000,
    keep_last: int = 10,
) -> BackupFile:
    """Write one backup of what ``snapshot`` shows, and its manifest; then apply retention.

    The file is written while the snapshot is open (inside its transaction)."""
    if fmt not in FORMATS:
        raise TgPipelineError(f"unknown backup format {fmt!r}; use one of {', '.join(FORMATS)}")
    if row_group_size < 1:
        raise TgPipelineError("row_group_size must be at least 1")
    if keep_last < 1:
        raise TgPipelineError("keep_last must be at least 1 (the backup just written)")
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    remove_orphan_temp_files(dest_dir)
    created = datetime.now(UTC)
    stamp = created.strftime("%Y%m%dT%H%M%S%fZ")
    tmp = dest_dir / f".messages-{stamp}.{fmt}.{os.getpid()}.tmp"
    sink = HashingFile(tmp)
    try:
        with snapshot as snap:
            rows = snap.rows
            with sink:
                _write(snap, sink, fmt, rows, row_group_size, created)
    except BaseException:
        # The write already failed; a close that fails too (the same full disk) must
        # not keep the half-written file from being removed.
        with contextlib.suppress(OSError):
            sink.close()
        tmp.unlink(missing_ok=True)
        raise
    try:
        sha = sink.digest.hexdigest()
        size = sink.size
        if size != tmp.stat().st_size:
            raise TgPipelineError(f"backup {tmp} was not written completely")
        final = dest_dir / f"messages-{stamp}-{sha[:12]}.{fmt}"
        place(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    manifest = {
        "file": final.name,
        "format": fmt,
        "rows": rows,
        "sha256": sha,
        "bytes": size,
        "schema_version": SCHEMA_VERSION,
        "created_at": created.isoformat(),
        "columns": list(FIELD_NAMES),
        "order": ["chat_id", "message_id"],
        "row_group_size": row_group_size if fmt == "parquet" else None,
    }
    mpath = manifest_path(final)
    mtmp = dest_dir / f".{mpath.name}.{os.getpid()}.tmp"
    try:
        with mtmp.open("wb") as fh:
            fh.write(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
            fh.flush()
            os.fsync(fh.fileno())
        place(mtmp, mpath)
    finally:
        mtmp.unlink(missing_ok=True)
    fsync_dir(dest_dir)
    apply_retention(dest_dir, fmt=fmt, keep_last=keep_last)
    return BackupFile(path=final, manifest_path=mpath, rows=rows, sha256=sha, bytes=size, fmt=fmt)


def list_backups(dest_dir: Path, fmt: str) -> list[Path]:
    """Backups of one format in ``dest_dir``, oldest first."""
    if not Path(dest_dir).is_dir():
        return []
    found = [
        p for p in Path(dest_dir).iterdir() if (m := _NAME.match(p.name)) and m.group(3) == fmt
    ]
    return sorted(found, key=lambda p: p.name)


def apply_retention(dest_dir: Path, *, fmt: str, keep_last: int) -> list[Path]:
    """Delete all but the newest ``keep_last`` backups of ``fmt`` (file and manifest)."""
    backups = list_backups(dest_dir, fmt)
    doomed = backups[:-keep_last] if keep_last > 0 else backups
    for path in doomed:
        path.unlink(missing_ok=True)
        manifest_path(path).unlink(missing_ok=True)
    return doomed
