"""Backups of ``messages`` as Parquet and CSV, each with a manifest, plus their check.

A backup holds exactly the record columns (:data:`tg_pipeline.records.FIELD_NAMES`) in key
order ``(chat_id, message_id)``, so restoring it through the ordinary upsert gives the same
table back.

Key order without one big sort. Dumps list messages in key order, so a table filled one
dump at a time is usually stored in key order: a scan of the two key columns checks
that (a few hundredths of a second for a million rows), and then the backup is one plain
scan in storage order, checked again batch by batch as it passes. Otherwise the keys
alone are sorted once to find the boundaries of key ranges (a whole number per row
group, at most 25k rows each), and each range is selected (pruned by zone maps) and,
if it comes back out of order, sorted on its own in Arrow. A sort of the whole wide
table would cost several times a plain COPY and fails under the memory limit.

Speed. Encoding the Parquet file (zstd, in Arrow) runs on one thread and is most of a
Parquet backup's time, so the rest is arranged around it: DuckDB reads on the other core
(one DuckDB thread; a second only competes with the encoder), a whole row group ahead,
so the encoder never waits for the next; dictionary pages and statistics are kept to
the columns where they pay. DuckDB's own ``COPY … (FORMAT parquet)`` encodes on all
threads but cannot write this file: it fills row groups in whole 2048-row vectors, so
the size asked for is only a minimum (100,352 rows for 100k); it marks columns required
or optional by the data rather than by :data:`~tg_pipeline.records.MESSAGE_SCHEMA` (so a
restore could not scan the file directly); and under the warehouse's memory limit it
runs out of memory on two threads and is several times slower on one.

The sha256 is computed as the bytes are written. Files are written under a temporary
name in the destination folder, fsynced, then linked into place (a link never replaces
an existing file), then the manifest the same way. Names are
``messages-<UTC time with µs>-<sha256 prefix>.<ext>``: they sort by time, differ for
every backup, and are never reused.

CSV follows RFC 4180: UTF-8, CRLF line ends, a header of the column names, every text
value quoted (so ``""`` is an empty string) and NULL as an empty unquoted cell. Instants
are ISO-8601 in UTC with an explicit ``+00:00`` offset.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import queue
import re
import threading
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from tg_pipeline.errors import DumpError, TgPipelineError
from tg_pipeline.readers.backup import (
    ROW_COUNT_KEY,
    SCHEMA_VERSION_KEY,
    manifest_path,
    read_backup,
)
from tg_pipeline.readers.fingerprint import FileDigest
from tg_pipeline.records import FIELD_NAMES, MESSAGE_SCHEMA, SCHEMA_VERSION, ReadOptions
from tg_pipeline.warehouse.columns import RECORD_COLUMNS, row_hash_sql
from tg_pipeline.warehouse.prefetch import Prefetch

FORMATS = ("parquet", "csv")
#: Rows per batch from DuckDB: DuckDB's own buffering while streaming to Arrow grows with
#: the batch, and larger batches read no faster.
_FETCH_ROWS = 8_192
#: Rows per key range when the table is not stored in key order: a range is read whole
#: and possibly sorted, so it sets that path's memory; 25k read as fast as 50k.
_RANGE_ROWS = 25_000
_BACKUP_MEMORY_LIMIT = "64MB"
#: zstd's fastest positive level: level 3 costs about a tenth more encoding for a file
#: about 6% smaller, and negative levels save little time on these texts for a much
#: larger file.
_ZSTD_LEVEL = 1
#: How many tables the reader may hold ready for the CSV writer, which takes them one by
#: one: a few smooth out the two sides; more only hold memory.
_CSV_TABLES_AHEAD = 4
_KEY_ORDER = [("chat_id", "ascending"), ("message_id", "ascending")]
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
#: Encoded blocks queued for the writing thread: a few tens of MB at most.
_WRITES_AHEAD = 8
#: Writes smaller than this are gathered into one block before the threads see them.
_HANDOFF_BYTES = 1 << 20
#: Bytes written between requests that the kernel start putting them on disk. Otherwise
#: the whole file waits in the page cache for the fsync at the end, which then takes a
#: fifth of a CSV backup's time, and more when the disk is busy.
_WRITEBACK_BYTES = 32 << 20

_ISO_UTC = "strftime(timezone('UTC', {c}), '%Y-%m-%dT%H:%M:%S.%f') || '+00:00'"


@dataclass(frozen=True)
class BackupFile:
    path: Path
    manifest_path: Path
    rows: int
    sha256: str
    bytes: int
    fmt: str


@dataclass(frozen=True)
class BackupCheck:
    ok: bool
    rows: int
    detail: str


def _select_list(fmt: str) -> str:
    if fmt == "parquet":
        return ", ".join(RECORD_COLUMNS)
    return ", ".join(
        f"{_ISO_UTC.format(c=c)} AS {c}" if c in ("sent_at", "edited_at") else c
        for c in RECORD_COLUMNS
    )


def _stored_in_key_order(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether a plain scan yields the rows in key order. Only the two key columns are
    read: a few hundredths of a second for a million rows."""
    last: tuple[int, int] | None = None
    with con.sql("SELECT chat_id, message_id FROM messages").to_arrow_reader(_FETCH_ROWS) as keys:
        for batch in keys:
            if not _continues(last, batch):
                return False
            last = _last_key(batch)
    return True


def _stored_order(con: duckdb.DuckDBPyConnection, select: str) -> Generator[pa.Table, None, None]:
    """The rows as stored. The key order found by :func:`_stored_in_key_order` is
    checked again on the way, so the file is in key order whatever the scan does."""
    last: tuple[int, int] | None = None
    with con.sql(f"SELECT {select} FROM messages").to_arrow_reader(_FETCH_ROWS) as reader:
        for batch in reader:
            if not _continues(last, batch):
                raise TgPipelineError("messages did not come back in key order; no backup made")
            last = _last_key(batch)
            yield pa.Table.from_batches([batch])


def _range_starts(con: duckdb.DuckDBPyConnection, size: int) -> list[tuple[int, int]]:
    """Every ``size``-th key in key order: where each range starts. The keys stream
    through sorted (DuckDB spills the sort if it must), never held all at once."""
    query = con.sql("SELECT chat_id, message_id FROM messages ORDER BY chat_id, message_id")
    starts: list[tuple[int, int]] = []
    seen = 0
    with query.to_arrow_reader(_FETCH_ROWS) as reader:
        for batch in reader:
            picks = pa.array(range((-seen) % size, batch.num_rows, size), pa.int64())
            if len(picks):
                keys = batch.take(picks)
                starts.extend(
                    zip(keys.column(0).to_pylist(), keys.column(1).to_pylist(), strict=True)
                )
            seen += batch.num_rows
    return starts


def _ranges(
    con: duckdb.DuckDBPyConnection, starts: list[tuple[int, int]], select: str
) -> Generator[pa.Table, None, None]:
    for i, (lo_chat, lo_msg) in enumerate(starts):
        if i + 1 < len(starts):
            hi_chat, hi_msg = starts[i + 1]
            where = (
                "chat_id BETWEEN $1 AND $3 AND (chat_id, message_id) >= ($1, $2) "
                "AND (chat_id, message_id) < ($3, $4)"
            )
            if lo_chat == hi_chat:
                where += " AND message_id >= $2 AND message_id < $4"
            params = [lo_chat, lo_msg, hi_chat, hi_msg]
        else:
            where = "chat_id >= $1 AND (chat_id, message_id) >= ($1, $2)"
            params = [lo_chat, lo_msg]
        chunk = (
            con.sql(f"SELECT {select} FROM messages WHERE {where}", params=params)
            .to_arrow_reader(_FETCH_ROWS)
            .read_all()
        )
        yield chunk if _in_key_order(chunk) else chunk.take(pc.sort_indices(chunk, _KEY_ORDER))


def _key_ordered(
    con: duckdb.DuckDBPyConnection, select: str, row_group_size: int
) -> tuple[Generator[pa.Table, None, None], int]:
    """The rows in key order as tables, and the most rows one table holds: one scan
    when the table is stored in key order, else key ranges (see the module docstring)."""
    if _stored_in_key_order(con):
        return _stored_order(con, select), _FETCH_ROWS
    # A whole number of ranges per row group keeps them from being cut.
    parts = -(-row_group_size // _RANGE_ROWS)
    size = -(-row_group_size // parts)
    return _ranges(con, _range_starts(con, size), select), size


def _continues(last: tuple[int, int] | None, batch: pa.RecordBatch) -> bool:
    """Whether ``batch`` is in key order and starts after the key ``last``."""
    if not batch.num_rows:
        return True
    first = (batch.column("chat_id")[0].as_py(), batch.column("message_id")[0].as_py())
    return (last is None or last < first) and _in_key_order(pa.Table.from_batches([batch]))


def _last_key(batch: pa.RecordBatch) -> tuple[int, int] | None:
    if not batch.num_rows:
        return None
    n = batch.num_rows - 1
    return batch.column("chat_id")[n].as_py(), batch.column("message_id")[n].as_py()


def _in_key_order(table: pa.Table) -> bool:
    """Whether (chat_id, message_id) strictly increases down the table."""
    if table.num_rows < 2:
        return True
    chats = table.column("chat_id").combine_chunks()
    ids = table.column("message_id").combine_chunks()
    n = table.num_rows
    c0, c1 = chats.slice(0, n - 1), chats.slice(1)
    m0, m1 = ids.slice(0, n - 1), ids.slice(1)
    rising = pc.or_(pc.less(c0, c1), pc.and_(pc.equal(c0, c1), pc.less(m0, m1)))
    return bool(pc.all(rising).as_py())


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


@contextlib.contextmanager
def _backup_settings(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Scan in storage order (see the module docstring), with a small buffer pool and on
    one thread. A backup only scans, and the memory is better left to the row groups in
    flight. The encoder keeps a core busy; a second DuckDB thread would compete with it,
    and keeping storage order across two threads costs half as much CPU again as one
    thread reading alone."""
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


def _write(
    con: duckdb.DuckDBPyConnection,
    sink: _HashingFile,
    fmt: str,
    rows: int,
    row_group_size: int,
    created: datetime,
) -> None:
    schema = _parquet_schema(rows, created) if fmt == "parquet" else _csv_schema()
    ordered, most = _key_ordered(con, _select_list(fmt), row_group_size)
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
    sink: _HashingFile, schema: pa.Schema, tables: Iterable[pa.Table], row_group_size: int
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


def _write_csv(sink: _HashingFile, schema: pa.Schema, tables: Iterable[pa.Table]) -> None:
    options = pacsv.WriteOptions(include_header=True, eol="\r\n", batch_size=8192)
    with pacsv.CSVWriter(pa.PythonFile(sink, mode="w"), schema, write_options=options) as writer:
        for table in tables:
            writer.write_table(table)


class _HashingFile(io.RawIOBase):
    """A write-only file that hashes what passes through, so the checksum needs no
    second read of the file.

    Writing and hashing each run on a thread of their own (both release the GIL), beside
    the encoder that calls :meth:`write`: for a CSV backup each of the three costs about
    as much as the others, and the kernel's share of a large write can be most of it.
    An error writing (a full disk) is raised by the next :meth:`write` or by :meth:`close`.

    Small writes are gathered into blocks of :data:`_HANDOFF_BYTES` first: a Parquet writer
    makes thousands of writes of a few dozen bytes, and handing each to two threads would
    cost more than the threads save.
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._file = path.open("wb")
        self.digest = FileDigest(background=True)
        self._buffer = bytearray()
        self._size = 0
        self._pending: queue.Queue[bytes | None] = queue.Queue(maxsize=_WRITES_AHEAD)
        self._failure: BaseException | None = None
        self._writer = threading.Thread(target=self._write_pending, name="tg-backup-writer")
        self._writer.start()

    def _write_pending(self) -> None:
        written = started = 0
        while (chunk := self._pending.get()) is not None:
            if self._failure is None:
                try:
                    self._file.write(chunk)
                    written += len(chunk)
                    if written - started >= _WRITEBACK_BYTES:
                        self._file.flush()
                        _start_writeback(self._file.fileno(), started, written)
                        started = written
                except BaseException as exc:
                    self._failure = exc

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    @property
    def size(self) -> int:
        return self._size

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._raise_failure()
        size = memoryview(data).nbytes
        if not self._buffer and size >= _HANDOFF_BYTES:
            # The encoder may reuse its buffer once this returns; the threads get a copy.
            self._hand_off(data if isinstance(data, bytes) else bytes(data))
        else:
            self._buffer += data
            if len(self._buffer) >= _HANDOFF_BYTES:
                self._hand_off(bytes(self._buffer))
                self._buffer.clear()
        self._size += size
        return size

    def _hand_off(self, block: bytes) -> None:
        self._pending.put(block)
        self.digest.update(block)

    def tell(self) -> int:
        return self.size

    def _drain(self) -> None:
        if self._writer.is_alive():
            self._pending.put(None)
            self._writer.join()

    def flush(self) -> None:
        self._raise_failure()

    def close(self) -> None:
        try:
            if self._buffer and self._failure is None:
                self._hand_off(bytes(self._buffer))
                self._buffer.clear()
            self._drain()
            if not self._file.closed:
                try:
                    self._raise_failure()
                    self._file.flush()
                    os.fsync(self._file.fileno())
                finally:
                    self._file.close()
        finally:
            self.digest.close()
            super().close()


def _start_writeback(fd: int, start: int, end: int) -> None:
    """Have the kernel start writing ``[start, end)`` out now, without waiting for it.

    On Linux ``POSIX_FADV_DONTNEED`` on pages just written starts their write-back and
    leaves them cached (it drops only clean pages, and these are all dirty), so the check
    that reads the backup back still finds it in memory. Where the call is missing or
    refused, the fsync that ends the file does all the writing.
    """
    advise = getattr(os, "posix_fadvise", None)
    if advise is None:
        return
    with contextlib.suppress(OSError):
        advise(fd, start, end - start, os.POSIX_FADV_DONTNEED)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(4 << 20):
            digest.update(block)
    return digest.hexdigest()


def _place(tmp: Path, final: Path) -> None:
    """Move into place without ever replacing an existing file."""
    try:
        os.link(tmp, final)
    except FileExistsError as exc:
        raise TgPipelineError(f"backup {final} already exists; not overwriting it") from exc
    except OSError:
        if final.exists():
            raise TgPipelineError(f"backup {final} already exists; not overwriting it") from None
        os.rename(tmp, final)
        return
    tmp.unlink()


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove_orphan_temp_files(dest_dir: Path) -> list[Path]:
    """Remove the temporary files of backups whose process died while writing them.

    A temporary file's name ends in ``.<pid>.tmp``; it is an orphan once no process has
    that pid (a backup in progress keeps its own)."""
    removed: list[Path] = []
    for path in Path(dest_dir).glob(".*.tmp"):
        pid_text = path.name[: -len(".tmp")].rsplit(".", 1)[-1]
        if not pid_text.isdigit() or int(pid_text) == os.getpid():
            continue
        try:
            os.kill(int(pid_text), 0)
            continue
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        with contextlib.suppress(OSError):
            path.unlink()
            removed.append(path)
    return removed


def write_backup(
    con: duckdb.DuckDBPyConnection,
    dest_dir: Path,
    *,
    fmt: str,
    row_group_size: int = 100_000,
    keep_last: int = 10,
) -> BackupFile:
    """Write one backup of ``messages`` and its manifest; then apply retention."""
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
    sink = _HashingFile(tmp)
    with _backup_settings(con):
        con.execute("BEGIN TRANSACTION")
        try:
            row = con.execute("SELECT count(*) FROM messages").fetchall()[0]
            rows = int(row[0]) if row else 0
            with sink:
                _write(con, sink, fmt, rows, row_group_size, created)
            con.execute("COMMIT")
        except BaseException:
            # A COMMIT that failed has rolled back already; its error is the one to report.
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
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
        _place(tmp, final)
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
        _place(mtmp, mpath)
    finally:
        mtmp.unlink(missing_ok=True)
    _fsync_dir(dest_dir)
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


def verify_backup(con: duckdb.DuckDBPyConnection, backup: Path) -> BackupCheck:
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
        rows, differing = _compare_with_table(con, backup)
    except DumpError as exc:
        return BackupCheck(False, 0, f"backup does not read back: {exc}")
    if rows != expected_rows:
        return BackupCheck(False, rows, f"file has {rows} rows, manifest says {expected_rows}")
    if differing:
        return BackupCheck(
            False, rows, f"{differing} row(s) differ between the backup and the messages table"
        )
    return BackupCheck(True, rows, f"{rows} rows; checksum, row count and content match")


def _compare_with_table(con: duckdb.DuckDBPyConnection, backup: Path) -> tuple[int, int]:
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
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _tg_backup_rows AS "
            f"SELECT {row_hash_sql()} AS h FROM _tg_backup_stream"
        )
    except duckdb.Error as exc:
        if failure:
            raise failure[0] from exc
        raise
    finally:
        con.unregister("_tg_backup_stream")
    try:
        row = con.execute(
            f"""
            WITH t AS (SELECT {row_hash_sql()} AS h FROM messages)
            SELECT (SELECT count(*) FROM _tg_backup_rows),
                   (SELECT count(*) FROM (SELECT h FROM _tg_backup_rows EXCEPT ALL
                                          SELECT h FROM t))
                 + (SELECT count(*) FROM (SELECT h FROM t EXCEPT ALL
                                          SELECT h FROM _tg_backup_rows))
            """
        ).fetchall()[0]
    finally:
        con.execute("DROP TABLE IF EXISTS _tg_backup_rows")
    assert row is not None
    return int(row[0]), int(row[1])
