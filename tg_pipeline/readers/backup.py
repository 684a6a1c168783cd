"""Read tg_pipeline backups (.parquet, .csv, .csv.gz) back into record batches.

Backups hold exactly the record columns, so restoring is the ordinary upsert of these
batches. Both formats stream: Parquet one row group at a time, CSV one block at a time,
so a backup of any size restores in bounded memory.

CSV cells are typed from :data:`MESSAGE_SCHEMA`, never guessed. An unquoted empty cell is
NULL and a quoted empty cell (``""``) is the empty string, which is how
:mod:`tg_pipeline.warehouse.backup` writes them.

A backup cut short is refused, not restored in part. When its manifest
(``<file>.manifest.json``) sits next to it, the rows read must match it, which catches a
file cut off exactly at a row boundary; staging copies the manifest into the raw copy
with its backup. Without a manifest, a file still named as the writer named it
(``messages-<time>-<sha256 prefix>.<format>``) must hash to that prefix. A Parquet
footer's row count must match the rows read and the count the writer put in its metadata.

A .parquet or .csv backup is also offered to the warehouse as a scan
(:meth:`ScannableBackup.direct_scan`) that DuckDB inserts in one statement across threads:
restoring then skips the rounds of Python batches, which are most of a restore's cost.
DuckDB reads a Parquet file itself; a CSV file comes as the batch reader's own Arrow
stream. The batches stay the authority on what a file holds: whatever the scan cannot
vouch for (a file the reader rejects, a key twice or outside the range the file's ends
promise) makes the warehouse read the batches instead, which restore the file or raise the
DumpError naming the place. A .csv.gz keeps to batches: its last row, which bounds its
keys, is reached only by inflating all of it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from tg_pipeline.errors import DumpError
from tg_pipeline.readers.formats import MANIFEST_SUFFIX
from tg_pipeline.readers.limits import MAX_VALUE_BYTES, check_value_sizes
from tg_pipeline.records import (
    FIELD_NAMES,
    MESSAGE_SCHEMA,
    SCHEMA_VERSION,
    BackupScan,
    ReadOptions,
    ScannableRecords,
)

SCHEMA_VERSION_KEY = b"tg_pipeline.schema_version"
ROW_COUNT_KEY = b"tg_pipeline.row_count"

#: Arrow's streaming CSV reader keeps many blocks in flight; 1 MB blocks bound that to a
#: few tens of MB.
_CSV_BLOCK_BYTES = 1 << 20
#: Blocks for a CSV file with a longer row: a text at the value limit, its entities twice
#: that, and room for the rest of the row.
_CSV_LONG_BLOCK_BYTES = 4 * MAX_VALUE_BYTES
_REQUIRED = [f.name for f in MESSAGE_SCHEMA if not f.nullable]


def manifest_path(backup: Path) -> Path:
    """Where the manifest of a backup file lives."""
    return backup.with_name(backup.name + MANIFEST_SUFFIX)


def backup_format(path: Path) -> str:
    """``parquet``, ``csv`` or ``csv.gz``, from the file name."""
    name = path.name.lower()
    for fmt in ("csv.gz", "parquet", "csv"):
        if name.endswith("." + fmt):
            return fmt
    raise DumpError("not a tg_pipeline backup (expected .parquet, .csv or .csv.gz)", file=path)


def read_backup(path: Path, options: ReadOptions) -> Iterator[pa.RecordBatch]:
    """Stream a backup as :data:`MESSAGE_SCHEMA` batches; DumpError names file and place.

    Nothing is opened until the first batch (or scan) is asked for, so a bad file fails
    where the caller reads it, like every other reader.
    """
    path = Path(path)
    if path.name.lower().endswith((".parquet", ".csv")):
        return ScannableBackup(path, options)
    return _read_batches(path, options)


class ScannableBackup(Iterator[pa.RecordBatch], ScannableRecords):
    """A .parquet or .csv backup: batches for every consumer, or a scan for the warehouse.

    The scan promises what the file's cheap parts say (a Parquet footer; a CSV header and
    its first and last rows), and is None when they cannot vouch for a direct insert.
    """

    def __init__(self, path: Path, options: ReadOptions) -> None:
        self.path = Path(path)
        self._options = options
        self._batches: Iterator[pa.RecordBatch] | None = None

    def __iter__(self) -> ScannableBackup:
        return self

    def __next__(self) -> pa.RecordBatch:
        if self._batches is None:
            self._batches = _read_batches(self.path, self._options)
        return next(self._batches)

    def close(self) -> None:
        close = getattr(self._batches, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> ScannableBackup:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def direct_scan(self) -> BackupScan | None:
        """The file as a scan, or None when only batches can read it (then read those)."""
        path = self.path
        if not path.is_file():
            raise DumpError("backup file not found", file=path)
        if self._batches is not None:
            return None
        if backup_format(path) == "parquet":
            return _parquet_scan(path)
        return _csv_scan(path, self._options)


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _parquet_scan(path: Path) -> BackupScan | None:
    file = _open_parquet(path)
    if not file.schema_arrow.equals(MESSAGE_SCHEMA):
        return None
    meta = file.metadata
    try:
        expected = _check_whole(path)
    except _NotAsWritten:
        return None  # the batches name the damage, or refuse the file once read
    if expected is not None and meta.num_rows != expected:
        raise DumpError(
            f"holds {meta.num_rows} rows but its manifest says {expected}; the file is incomplete",
            file=path,
            position="footer",
        )
    # The schema matched, so the required columns are stored as Parquet REQUIRED columns,
    # which cannot hold a null; only the keys' statistics are needed. A row without a chat
    # id needs the warehouse to resolve one, which only batches get.
    bounds: dict[str, list[int]] = {}
    for group in range(meta.num_row_groups):
        row_group = meta.row_group(group)
        for name in ("chat_id", "message_id"):
            column = row_group.column(file.schema_arrow.get_field_index(name))
            stats = column.statistics
            if stats is None or not stats.has_null_count or not stats.has_min_max:
                return None
            if name == "chat_id" and stats.null_count:
                return None
            low, high = bounds.setdefault(name, [stats.min, stats.max])
            bounds[name] = [min(low, stats.min), max(high, stats.max)]
    if "message_id" not in bounds:
        return None
    chats, ids = bounds["chat_id"], bounds["message_id"]
    return BackupScan(
        relation=f"read_parquet({_sql_text(str(path))})",
        rows=meta.num_rows,
        first_key=(chats[0], ids[0]),
        last_key=(chats[1], ids[1]),
        message_ids=(ids[0], ids[1]),
    )


_KEY_CELL = re.compile(r"-?[0-9]+")
_CHAT_ID = FIELD_NAMES.index("chat_id")
_MESSAGE_ID = FIELD_NAMES.index("message_id")

#: The last row of a CSV backup is read from the end of the file, from this many bytes on,
#: four times more at a time up to the most; a last row longer than that leaves the file
#: to batches.
_TAIL_BYTES = 1 << 16
_TAIL_BYTES_MOST = 1 << 24


def _csv_scan(path: Path, options: ReadOptions) -> BackupScan | None:
    """A CSV backup as a scan: its own batches as one Arrow stream, its key range taken
    from its first and last rows.

    The stream is the batch reader itself, so every cell is typed and checked exactly as
    in batches, and a file it rejects fails the insert. DuckDB's own CSV reader would be
    slower here, and reads some cells otherwise (``+5``, ``5.5``, a time without offset,
    spaces around a quoted value, a row with trailing empty cells). The backup writer
    writes rows in key order, so the two end rows bound every key; a file not in that
    order shows when the upsert checks the inserted rows.
    """
    try:
        rows = _check_whole(path)
    except _NotAsWritten:
        return None
    head = _csv_head(path)
    if head is None or head[0] != list(FIELD_NAMES):
        return None
    first_key = _key(head[1])
    last = _csv_last_row(path)
    last_key = _key(last) if last is not None else None
    if first_key is None or last_key is None:
        return None
    return BackupScan(
        relation=pa.RecordBatchReader.from_batches(
            MESSAGE_SCHEMA, _read_batches(path, options, checked=True)
        ),
        rows=rows,
        first_key=first_key,
        last_key=last_key,
    )


def _key(row: list[str]) -> tuple[int, int] | None:
    if len(row) != len(FIELD_NAMES):
        return None
    chat_id, message_id = row[_CHAT_ID], row[_MESSAGE_ID]
    if not (_KEY_CELL.fullmatch(chat_id) and _KEY_CELL.fullmatch(message_id)):
        return None
    return int(chat_id), int(message_id)


def _csv_head(path: Path) -> tuple[list[str], list[str]] | None:
    """The header and the first data row, or None when the file has no whole one."""
    try:
        with path.open(encoding="utf-8-sig", errors="replace", newline="") as text:
            rows = (row for row in csv.reader(text, strict=True) if row)
            header = next(rows, None)
            first = next(rows, None)
    except csv.Error:
        return None
    if header is None or first is None:
        return None
    return header, first


def _csv_last_row(path: Path) -> list[str] | None:
    """The last data row, found from the end of the file.

    In RFC 4180 every quote inside a quoted value is doubled, so a line break lies outside
    quotes, between two rows, exactly when an even number of quotes follows it; the last
    such line break starts the last row, however many line breaks its values hold.
    """
    size = path.stat().st_size
    want = _TAIL_BYTES
    with path.open("rb") as raw:
        while True:
            start = max(0, size - want)
            raw.seek(start)
            tail = raw.read().rstrip(b"\r\n")
            quotes, end = 0, len(tail)
            while (at := max(tail.rfind(b"\n", 0, end), tail.rfind(b"\r", 0, end))) >= 0:
                quotes += tail.count(b'"', at + 1, end)
                if quotes % 2 == 0:
                    return _only_row(tail[at + 1 :])
                end = at
            if start == 0 or want >= _TAIL_BYTES_MOST:
                return None
            want *= 4


def _only_row(data: bytes) -> list[str] | None:
    text = io.StringIO(data.decode("utf-8", errors="replace"), newline="")
    try:
        rows = [row for row in csv.reader(text, strict=True) if row]
    except csv.Error:
        return None
    return rows[0] if len(rows) == 1 and len(rows[0]) == len(FIELD_NAMES) else None


def _open_parquet(path: Path) -> pq.ParquetFile:
    try:
        file = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise DumpError(
            f"not a readable Parquet file: {exc}", file=path, position="footer"
        ) from exc
    names = set(file.schema_arrow.names)
    missing = [n for n in FIELD_NAMES if n not in names]
    if missing:
        raise DumpError(
            f"missing record columns: {', '.join(missing)}", file=path, position="schema"
        )
    meta = file.metadata.metadata or {}
    written = meta.get(ROW_COUNT_KEY)
    if written is not None and written.isdigit() and int(written) != file.metadata.num_rows:
        raise DumpError(
            f"its footer counts {file.metadata.num_rows} rows but it was written with "
            f"{int(written)}; rows were cut",
            file=path,
            position="footer",
        )
    version = meta.get(SCHEMA_VERSION_KEY)
    if version is not None and int(version) > SCHEMA_VERSION:
        raise DumpError(
            f"written with record schema version {int(version)}; this tg_pipeline reads up "
            f"to {SCHEMA_VERSION}",
            file=path,
            position="footer",
        )
    return file


def _read_batches(
    path: Path, options: ReadOptions, *, checked: bool = False
) -> Iterator[pa.RecordBatch]:
    """Batches of the file; ``checked`` when the caller already ran :func:`_check_whole`."""
    fmt = backup_format(path)
    if not path.is_file():
        raise DumpError("backup file not found", file=path)
    expected = _manifest_rows(path)
    rows = 0
    footer: list[int] = []
    reader = (
        _read_parquet(path, options, footer) if fmt == "parquet" else _read_csv(path, fmt, options)
    )
    for batch, where in reader:
        _check_required(batch, path, where, rows)
        check_value_sizes(batch, file=str(path), where=where)
        rows += batch.num_rows
        yield batch
    if expected is not None and rows != expected:
        raise DumpError(
            f"holds {rows} rows but its manifest says {expected}; the file is incomplete",
            file=path,
            position="end of file",
        )
    if footer and rows != footer[0]:
        raise DumpError(
            f"holds {rows} rows but its Parquet footer says {footer[0]}; the file is damaged",
            file=path,
            position="end of file",
        )
    if not checked:
        # Last, so that damage the reading itself finds is named where it lies.
        _check_whole(path)


#: How the backup writer names a file: its time and the first 12 hex digits of its sha256.
_WRITER_NAME = re.compile(r"messages-\d{8}T\d+Z-(?P<sha>[0-9a-f]{12})\.(?:parquet|csv)", re.I)


class _NotAsWritten(DumpError):
    """The file does not hash to the prefix its writer's name holds."""


def _check_whole(path: Path) -> int | None:
    """Refuse a backup that is not whole; the rows its manifest promises, if it has one.

    With a manifest, the rows read are checked against it; without one, a file still under
    the writer's name must hash to the prefix the name holds.
    """
    if manifest_path(path).is_file():
        return _manifest_rows(path)
    named = _WRITER_NAME.fullmatch(path.name)
    if named is not None:
        digest = hashlib.sha256()
        with path.open("rb") as raw:
            while chunk := raw.read(1 << 20):
                digest.update(chunk)
        if not digest.hexdigest().startswith(named["sha"].lower()):
            raise _NotAsWritten(
                f"its sha256 does not start with {named['sha']}, as the backup's name says: "
                "the file was cut or changed since it was written",
                file=path,
                position="whole file",
            )
    return None


def _manifest_rows(path: Path) -> int | None:
    manifest = manifest_path(path)
    if not manifest.is_file():
        return None
    try:
        rows = orjson.loads(manifest.read_bytes()).get("rows")
    except (orjson.JSONDecodeError, AttributeError) as exc:
        raise DumpError(f"unreadable manifest: {exc}", file=manifest) from exc
    return rows if isinstance(rows, int) else None


def _conform(batch: pa.RecordBatch, path: Path, where: str) -> pa.RecordBatch:
    try:
        arrays = [batch.column(f.name).cast(f.type) for f in MESSAGE_SCHEMA]
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise DumpError(
            f"column does not fit the record schema: {exc}", file=path, position=where
        ) from exc
    return pa.RecordBatch.from_arrays(arrays, schema=MESSAGE_SCHEMA)


def _check_required(batch: pa.RecordBatch, path: Path, where: str, before: int) -> None:
    for name in _REQUIRED:
        column = batch.column(name)
        if column.null_count:
            first = pc.index(pc.is_null(column), True).as_py()
            raise DumpError(
                f"column {name} is empty in row {before + first + 1}, but every record has one",
                file=path,
                position=where,
            )


def _read_parquet(
    path: Path, options: ReadOptions, footer: list[int]
) -> Iterator[tuple[pa.RecordBatch, str]]:
    """Row groups as batches; ``footer`` receives the footer's row count."""
    file = _open_parquet(path)
    footer.append(file.metadata.num_rows)
    for group in range(file.num_row_groups):
        where = f"row group {group}"
        try:
            # One decoding thread: restores run the reader beside DuckDB, which has the
            # other cores, and Arrow's per-thread buffers would only add memory.
            batches = file.iter_batches(
                batch_size=options.batch_size,
                row_groups=[group],
                columns=list(FIELD_NAMES),
                use_threads=False,
            )
            for batch in batches:
                yield _conform(batch, path, where), where
        except DumpError:
            raise
        except (pa.ArrowException, OSError) as exc:
            raise DumpError(f"corrupt data: {exc}", file=path, position=where) from exc


def _check_block(exc: BaseException, block: int) -> None:
    if block < _CSV_LONG_BLOCK_BYTES and "straddl" in str(exc):
        raise _RowLongerThanBlock from exc


def _csv_position(exc: BaseException, fallback: str) -> str:
    """Arrow numbers CSV rows from 1 with the header as row 1; say so plainly."""
    found = re.search(r"Row #(\d+)", str(exc))
    return f"CSV row {found.group(1)} (header = row 1)" if found else fallback


class _RowLongerThanBlock(Exception):
    """A CSV row does not fit one block of the streaming reader."""


def _read_csv(path: Path, fmt: str, options: ReadOptions) -> Iterator[tuple[pa.RecordBatch, str]]:
    """CSV batches in small blocks; a file with a row longer than one (a long text) is
    read again in blocks that hold the longest row the value limit allows, past the rows
    already given."""
    given = 0
    try:
        for batch, where in _read_csv_blocks(path, fmt, options, _CSV_BLOCK_BYTES):
            given += batch.num_rows
            yield batch, where
        return
    except _RowLongerThanBlock:
        pass
    for batch, where in _read_csv_blocks(path, fmt, options, _CSV_LONG_BLOCK_BYTES):
        skip = min(given, batch.num_rows)
        given -= skip
        if skip < batch.num_rows:
            yield batch.slice(skip), where


def _read_csv_blocks(
    path: Path, fmt: str, options: ReadOptions, block: int
) -> Iterator[tuple[pa.RecordBatch, str]]:
    try:
        raw = pa.input_stream(str(path), compression="gzip" if fmt == "csv.gz" else None)
    except (pa.ArrowException, OSError) as exc:
        raise DumpError(f"unreadable file: {exc}", file=path, position="line 1") from exc
    rows = 0
    try:
        try:
            reader = pacsv.open_csv(
                raw,
                read_options=pacsv.ReadOptions(block_size=block, use_threads=False),
                parse_options=pacsv.ParseOptions(newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    column_types={f.name: f.type for f in MESSAGE_SCHEMA},
                    null_values=[""],
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=False,
                ),
            )
        except (pa.ArrowException, OSError, EOFError) as exc:
            _check_block(exc, block)
            raise DumpError(
                f"corrupt CSV: {exc}", file=path, position=_csv_position(exc, "first block")
            ) from exc
        header = reader.schema.names
        if list(header) != list(FIELD_NAMES):
            raise DumpError(
                "header is not the record's columns "
                f"(expected {', '.join(FIELD_NAMES)}; got {', '.join(header)})",
                file=path,
                position="line 1",
            )
        while True:
            where = f"after data row {rows}" if rows else "first block"
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except (pa.ArrowException, OSError, EOFError) as exc:
                _check_block(exc, block)
                raise DumpError(
                    f"corrupt CSV: {exc}", file=path, position=_csv_position(exc, where)
                ) from exc
            batch = _conform(batch, path, where)
            for start in range(0, batch.num_rows, options.batch_size):
                yield batch.slice(start, options.batch_size), where
            rows += batch.num_rows
    finally:
        raw.close()
