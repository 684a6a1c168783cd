"""Progress lines for a run's log while a staged dump is read."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tg_pipeline.readers import progress as read_progress

if TYPE_CHECKING:
    import pyarrow as pa

    from tg_pipeline.ingest.staging import StagedDump

#: Seconds between two progress lines in a run's log (``TG_PROGRESS_EVERY_S`` overrides).
PROGRESS_EVERY_S = 2.0
_progress_every_s = PROGRESS_EVERY_S


@dataclass(frozen=True)
class ReadProgress:
    """How far the read of a dump got, as one line of a run's log.

    The run writes :meth:`line`; whoever follows the log (the CLI's progress bar, locally or
    through the webserver) reads it back with :meth:`parse`, so both sides share one format.
    """

    dump_id: str
    records: int
    done: int
    total: int

    def line(self) -> str:
        return (
            f"dump {self.dump_id}: {self.records:,} records read, "
            f"{self.done:,} of {self.total:,} bytes"
        )

    @classmethod
    def parse(cls, message: str) -> ReadProgress | None:
        """The progress a log line reports, or ``None`` for any other line."""
        found = _LINE.search(message)
        if found is None:
            return None
        return cls(
            dump_id=found["dump"],
            records=int(found["records"].replace(",", "")),
            done=int(found["done"].replace(",", "")),
            total=int(found["total"].replace(",", "")),
        )


_LINE = re.compile(
    r"dump (?P<dump>\S+): (?P<records>\d[\d,]*) records read, "
    r"(?P<done>\d[\d,]*) of (?P<total>\d[\d,]*) bytes"
)


def use_progress_interval(every_s: float | None) -> None:
    """This process's interval between progress lines; ``None`` restores the default."""
    global _progress_every_s
    _progress_every_s = PROGRESS_EVERY_S if every_s is None else every_s


def reporting_progress(
    batches: Iterator[pa.RecordBatch],
    staged: StagedDump,
    log: Callable[[str], None],
    every_s: float | None = None,
) -> Iterator[pa.RecordBatch]:
    """Pass batches through, logging records and bytes read at most every ``every_s``.

    Bytes are those of every file before the one the latest record came from, plus what
    the reader noted of the file it is in (:mod:`tg_pipeline.readers.progress`): a single
    result.json moves as it is parsed, and HTML pages count page by page.
    """
    if every_s is None:
        every_s = _progress_every_s
    offsets: dict[str, int] = {}
    raw_offsets: dict[str, int] = {}
    before = 0
    for staged_file in staged.files:
        offsets[str(staged.display_base / staged_file.path)] = before
        raw_offsets[str(staged.root / staged_file.path)] = before
        before += staged_file.bytes
    for raw in raw_offsets:
        read_progress.forget(raw)
    total = staged.total_bytes
    rows = 0
    done = 0
    last = time.monotonic()
    for batch in batches:
        rows += batch.num_rows
        now = time.monotonic()
        if now - last >= every_s and batch.num_rows:
            last = now
            noted = ((start, read_progress.bytes_read(raw)) for raw, start in raw_offsets.items())
            in_file = max((start + n for start, n in noted if n), default=0)
            latest = batch.column("source_file")[-1].as_py() or ""
            at_file = raw_offsets.get(latest, offsets.get(latest, 0))
            done = min(max(done, at_file, in_file), total)
            log(ReadProgress(staged.dump_id, rows, done, total).line())
        yield batch
    for raw in raw_offsets:
        read_progress.forget(raw)
    log(ReadProgress(staged.dump_id, rows, total, total).line())
