"""Reading a detected dump into one normalized record stream: :func:`read_dump`."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from tg_pipeline.errors import DumpError
from tg_pipeline.readers.detect import Dump
from tg_pipeline.readers.formats import DumpKind
from tg_pipeline.readers.limits import check_value_sizes
from tg_pipeline.records import BackupScan, ReadOptions, ScannableRecords

if TYPE_CHECKING:
    from tg_pipeline.readers.backup import ScannableBackup


_MAX_DETAIL = 300


def read_dump(dump: Dump, options: ReadOptions | None = None) -> Iterator[pa.RecordBatch]:
    """The dump's records in export order, in batches; raises DumpError on a bad dump.

    :func:`open_dump` recognises the dump (see :mod:`.detect`); the reader for its kind is
    imported only when such a dump is read, so detection works without the readers and
    importing this package stays cheap.

    A reader that fails in a way it did not foresee still fails as a :class:`DumpError`
    naming the file and the last record read, never as a traceback: a dump is accepted
    whole or not at all, and the caller is told which.

    A Parquet or CSV backup comes back as an iterator that the warehouse can also scan directly
    (see :class:`.backup.ScannableBackup`); everyone else just iterates it.

    Batches stream: the caller must treat what it has received as provisional until the
    iterator is exhausted, because a malformed message further on rejects the whole dump.
    """
    options = options or ReadOptions()
    start: Callable[[], Iterable[pa.RecordBatch]]
    if dump.kind is DumpKind.TELEGRAM_JSON:
        from tg_pipeline.readers.json_export import read_json_export

        def start() -> Iterable[pa.RecordBatch]:
            return read_json_export(dump.files[0], options)

    elif dump.kind is DumpKind.TELEGRAM_HTML:
        from tg_pipeline.readers.html_export import order_pages, read_html_export

        def start() -> Iterable[pa.RecordBatch]:
            return read_html_export(order_pages(dump.files), options)

    elif dump.kind in (DumpKind.BACKUP_PARQUET, DumpKind.BACKUP_CSV):
        from tg_pipeline.readers.backup import ScannableBackup, read_backup

        backup = read_backup(dump.files[0], options)
        if isinstance(backup, ScannableBackup) and dump.extracted_to is None:
            return _GuardedBackup(dump, backup)

        def start() -> Iterable[pa.RecordBatch]:
            return backup

    else:
        raise DumpError(f"no reader for dump kind {dump.kind!r}", file=dump.source)
    return _guarded(dump, start)


class _GuardedBackup(Iterator[pa.RecordBatch], ScannableRecords):
    """A backup read through :func:`_guarded`, still offering its direct scan.

    Only a backup read in place is offered for scanning: rows read from a ``.zip`` are
    relabelled on the way (see :func:`_relabel`), which a direct scan would skip.
    """

    def __init__(self, dump: Dump, backup: ScannableBackup) -> None:
        self._dump = dump
        self._backup = backup
        self._batches = _guarded(dump, lambda: backup)

    def __iter__(self) -> _GuardedBackup:
        return self

    def __next__(self) -> pa.RecordBatch:
        return next(self._batches)

    def close(self) -> None:
        self._batches.close()
        self._backup.close()

    def direct_scan(self) -> BackupScan | None:
        return self._backup.direct_scan()


def _guarded(
    dump: Dump, start: Callable[[], Iterable[pa.RecordBatch]]
) -> Generator[pa.RecordBatch, None, None]:
    last_file: str | None = None
    last_position: str | None = None
    try:
        for batch in start():
            if dump.extracted_to is not None and dump.relabel_records:
                batch = _relabel(batch, dump)
            check_value_sizes(batch)
            if batch.num_rows:
                last_file = batch.column("source_file")[batch.num_rows - 1].as_py()
                last_position = batch.column("source_position")[batch.num_rows - 1].as_py()
            yield batch
    except DumpError as err:
        file = dump.display_path(err.file) if err.file else _fallback_file(dump, last_file)
        if file == err.file and err.position:
            raise
        position = err.position or _progress(last_position)
        raise DumpError(err.message, file=file, position=position) from err
    except Exception as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        if len(detail) > _MAX_DETAIL:
            detail = detail[:_MAX_DETAIL] + "…"
        message = f"unreadable: {type(exc).__name__}" + (f": {detail}" if detail else "")
        position = _progress(last_position)
        raise DumpError(message, file=_fallback_file(dump, last_file), position=position) from exc


def _progress(last_position: str | None) -> str:
    """Where reading had got to, for an error that does not say where it happened."""
    return f"after {last_position}" if last_position else "before the first record"


def _fallback_file(dump: Dump, last_file: str | None) -> str:
    if last_file:
        return dump.display_path(last_file)
    if dump.files:
        return dump.display_path(dump.files[0])
    return str(dump.source)


def _relabel(batch: pa.RecordBatch, dump: Dump) -> pa.RecordBatch:
    """Name files inside the ``.zip`` instead of the temporary folder they were read from."""
    assert dump.extracted_to is not None
    index = batch.schema.get_field_index("source_file")
    if index < 0:
        return batch
    column = pc.replace_substring(
        batch.column(index),
        pattern=str(dump.extracted_to),
        replacement=str(dump.source),
        max_replacements=1,
    )
    return batch.set_column(index, batch.schema.field(index), column)
