"""A large single-chat export read as pieces on worker processes, with the records, batches
and errors of one pass (the pieces are planned by :mod:`.json_split`).

Imports only the JSON reader's own modules, the worker pool and the record schema.
"""

from __future__ import annotations

import dataclasses
import io
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from tg_pipeline.readers.json_pass import PART_ROWS, JsonPass
from tg_pipeline.readers.json_split import CLOSE, Piece, Plan, plan_pieces
from tg_pipeline.readers.json_whole import parse_whole
from tg_pipeline.readers.progress import note_bytes
from tg_pipeline.readers.rebatch import Regroup
from tg_pipeline.readers.workers import PARALLEL_DUMP_BYTES, pool_context, watch_owner
from tg_pipeline.records import FIELD_NAMES, ReadOptions

#: Exports smaller than this are read on one core: starting workers costs more than it saves.
PARALLEL_MIN_BYTES = PARALLEL_DUMP_BYTES
#: Bytes of messages per piece a worker reads (about 3,500 tdesktop messages). Small pieces
#: keep the summed memory of the parent and its workers flat however large the export.
PIECE_BYTES = 2 << 20
#: Pieces queued per worker: enough to keep it busy, few enough to keep memory flat.
PIECES_IN_FLIGHT_PER_WORKER = 2
_TIME_SOURCE = FIELD_NAMES.index("time_source")


def plan(path: Path, workers: int) -> Plan | None:
    """The pieces to read ``path`` in on ``workers`` cores; None for one pass on this core."""
    if workers <= 1:
        return None
    try:
        if path.stat().st_size < PARALLEL_MIN_BYTES:
            return None
        found = plan_pieces(path, PIECE_BYTES)
    except OSError:
        return None
    return found if found is not None and len(found.pieces) > 1 else None


def plan_here(path: Path) -> Plan | None:
    """The pieces to read ``path`` in on this core, or None for one pass: a piece's orjson
    parse (:mod:`.json_whole`) is faster than the streaming pass, and memory stays flat."""
    try:
        found = plan_pieces(path, PIECE_BYTES)
    except OSError:
        return None
    return found if found is not None and len(found.pieces) > 1 else None


class _HerePool:
    """Runs each submitted piece at once in this process, for :func:`read_pieces` on one
    core; the same queue, order and fallback as on worker processes."""

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        done: Future[Any] = Future()
        try:
            done.set_result(fn(*args))
        except Exception as exc:
            done.set_exception(exc)
        return done

    def shutdown(self, *, wait: bool, cancel_futures: bool) -> None:
        pass


class Outcome:
    """How a parallel read ended: every piece read, and the characters repaired."""

    def __init__(self) -> None:
        self.complete = False
        self.repaired = 0


def read_pieces(
    path: Path, options: ReadOptions, plan: Plan, workers: int, outcome: Outcome
) -> Iterator[pa.RecordBatch]:
    """Batches of the pieces read on ``workers`` cores (in this process for one), in
    export order.

    A piece a worker cannot read exactly as one pass would ends the parallel read early,
    with ``outcome.complete`` false: the caller then reads the rest on one core, which
    gives that pass's records and errors.
    """
    pool: ProcessPoolExecutor | _HerePool
    try:
        pool = (
            _HerePool()
            if workers <= 1
            else ProcessPoolExecutor(
                max_workers=workers,
                mp_context=pool_context(),
                initializer=watch_owner,
                initargs=(os.getpid(),),
            )
        )
    except (OSError, NotImplementedError):
        return
    in_flight: deque[Future[Any]] = deque()
    queue = iter(enumerate(plan.pieces))
    regroup = Regroup(options.batch_size)
    index = 0
    done_pieces = 0

    def submit() -> None:
        item = next(queue, None)
        if item is not None:
            number, piece = item
            in_flight.append(
                pool.submit(read_piece, str(path), plan.head, piece, options, number == 0)
            )

    try:
        for _ in range(workers * PIECES_IN_FLIGHT_PER_WORKER):
            submit()
        while in_flight:
            job = in_flight.popleft()
            try:
                result = job.result()
            except Exception:
                result = None
            if result is None:
                return
            parts, repaired = result
            submit()
            outcome.repaired += repaired
            for part in parts:
                index = _add_positions(part, index, regroup)
            yield from regroup.add([])
            note_bytes(path, plan.pieces[done_pieces].end)
            done_pieces += 1
        yield from regroup.rest()
        outcome.complete = True
    finally:
        for job in in_flight:
            job.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def _add_positions(part: pa.RecordBatch, index: int, regroup: Regroup) -> int:
    """Queue a piece's batch with its positions counted from the file's first message."""
    rows = part.num_rows
    numbers = pc.cast(pa.array(range(index, index + rows), pa.int64()), pa.string())
    positions = pc.binary_join_element_wise("messages[", numbers, "]", "")
    column = FIELD_NAMES.index("source_position")
    regroup.add_one(part.set_column(column, FIELD_NAMES[column], positions))
    return index + rows


def read_piece(
    path: str, head: bytes, piece: Piece, options: ReadOptions, first: bool, whole: bool = True
) -> tuple[list[pa.RecordBatch], int] | None:
    """A worker's records of one piece, and the characters it repaired. ``whole`` false
    reads it with ijson even where orjson could (:mod:`.json_whole`).

    None when the piece would not give exactly what one pass over the file gives: a
    syntax error, a repair that needs careful mode, an id-less chat, or an entry that
    needs a date from the piece before.
    """
    with open(path, "rb") as handle:
        handle.seek(piece.start)
        body = handle.read(piece.end - piece.start)
    document = head + body + CLOSE
    del body
    # Parts of the builder's own size go back as built; the caller joins them into batches.
    options = dataclasses.replace(options, batch_size=PART_ROWS)
    # The caller numbers the rows from the file's first message (_add_positions), and a
    # piece that fails is read again by a pass that names its positions.
    reader = JsonPass(
        Path(path),
        options,
        careful=False,
        source=lambda: io.BytesIO(document),
        positions=False,
    )
    # orjson builds the piece whole where it gives exactly the values ijson would.
    root = parse_whole(document) if whole else None
    try:
        parts = list(reader.batches_of(root) if root is not None else reader.batches())
    except Exception:
        return None
    chat = reader.root_chat
    if chat is None or chat.positional:
        return None
    if not first and parts and parts[0].column(_TIME_SOURCE)[0].as_py() == "inferred":
        return None
    # A worker reads piece after piece; Arrow's allocator would otherwise keep the scratch
    # memory of its builders (tens of MB per worker) for the life of the pool.
    pa.default_memory_pool().release_unused()
    return parts, reader.repaired
