"""PostgreSQL writers for the concurrency tests: one held mid-transaction in a thread
(:func:`held_ingest`), and, run as a script, a process for the crash test that ingests one
large dump into the warehouse at ``argv[1]`` (``argv[2]`` rows), as a run would, until it
is killed."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from tg_pipeline.warehouse import IngestResult
from tg_pipeline.warehouse.pg import PgWarehouse
from tg_pipeline_tests.warehouse_tests.builders import batches, dump, json_row


@dataclass
class HeldWriter:
    """The held ingest's thread, and once it ended, its result or its error."""

    thread: threading.Thread = field(default_factory=threading.Thread)
    result: IngestResult | None = None
    error: BaseException | None = None


@contextmanager
def held_ingest(
    pg_url: str,
    first: Sequence[dict[str, Any]],
    then: Sequence[dict[str, Any]],
    dump_id: str = "first",
) -> Iterator[HeldWriter]:
    """An ingest of ``first`` then ``then`` as one dump, in one transaction, held between
    the two for as long as the block runs; it goes on to commit when the block ends."""
    staged, release = threading.Event(), threading.Event()
    writer = HeldWriter()

    def rows() -> Iterator[pa.RecordBatch]:
        yield from batches(first)
        staged.set()
        release.wait(60)
        yield from batches(then)

    def ingest() -> None:
        try:
            with PgWarehouse.open(pg_url) as warehouse:
                writer.result = warehouse.ingest(rows(), dump=dump(dump_id))
        except BaseException as exc:
            writer.error = exc

    writer.thread = threading.Thread(target=ingest)
    writer.thread.start()
    try:
        assert staged.wait(60), "the held writer did not get halfway"
        yield writer
    finally:
        release.set()
        writer.thread.join(60)


def main() -> None:
    url, rows = sys.argv[1], int(sys.argv[2])
    with PgWarehouse.open(url) as warehouse:
        warehouse.ingest(
            batches((json_row(i, chat_id=4004, chat_name="Big") for i in range(1, rows + 1)), 5000),
            dump=dump("big"),
        )


if __name__ == "__main__":
    main()
