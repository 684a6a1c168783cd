"""Streaming reader for Telegram Desktop's machine-readable export (``result.json``).

One pass over the file handles both roots: a single chat (``{name, type, id, messages}``)
and a whole account (``chats.list[]``, ``left_chats.list[]``, plus account sections that
are skipped). ijson's yajl2 C backend builds the *whole document* with one C pipeline; a
``map_type`` hook hands the reader the root object as soon as it is created, and after
every chunk fed the reader takes the finished messages out of the half-built tree and
deletes them. Only the spine being built (root -> chat -> message) stays in memory, so
memory does not grow with the file, while every message is still built in C. The
alternatives measured worse: ``ijson.items`` takes one prefix and cannot see chat
boundaries; a Python loop over ``ijson.parse`` events is several times slower.

One core builds about 80k records a second. A large single-chat export in tdesktop's
layout is therefore cut into pieces that worker processes read with this same pass
(:mod:`.json_split`); anything a piece cannot reproduce exactly falls back to one pass.

Order of keys: tdesktop writes a chat's ``name``/``type``/``id`` before its messages, so
the chat fields are known when the first message arrives. A hand-made file may put them
after the messages; such a chat's rows wait until the chat ends, and past
``PENDING_LIMIT`` rows the reader learns the chat's fields with a separate metadata-only
pass instead of buffering more.

Each record is emitted in export order; a malformed message rejects the whole dump with a
:class:`DumpError` naming the file and ``chats.list[2].messages[17]``-style position.

Choices for what real exports leave open:

- ``unsupported`` entries (only ``id`` and ``type``) and types newer than this reader are
  ``kind='message'`` with the raw type in ``extra``; having no date, they take the time of
  the message before them (or after, at a chat's start), with ``time_source='inferred'``.
- A chat whose first message has no ``id`` (hand-made minimal files) is numbered by
  position, marked ``extra.id_from_position``; a missing id anywhere else rejects the dump.
- Chat ids of 2**32 and above are decoded from the v1.4.8-v2.6 encoding only when the
  chat's messages show the old numeric scheme (or show neither scheme): since 2021 real
  user ids can be that large too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import io
import itertools
import logging
import os
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

import ijson
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from tg_pipeline.errors import DumpError
from tg_pipeline.readers.json_depth import MAX_DEPTH, DepthExceeded, feed_bounded, tree_depth
from tg_pipeline.readers.json_message import (
    CHAT_ID,
    CHAT_NAME,
    CHAT_TYPE,
    EXTRA,
    INT64_MAX,
    MESSAGE_ID,
    OLD_IDS,
    ROW_FIELDS,
    SENT_AT,
    SOURCE_POSITION,
    USER_SHIFT,
    BadMessage,
    bare_chat_id,
    message_row,
)
from tg_pipeline.readers.json_repair import RepairingStream
from tg_pipeline.readers.json_split import CLOSE, Piece, Plan, plan_pieces
from tg_pipeline.readers.progress import note_bytes
from tg_pipeline.readers.timeparse import zone
from tg_pipeline.readers.workers import PARALLEL_DUMP_BYTES, pool_context, watch_owner
from tg_pipeline.records import FIELD_NAMES, BatchBuilder, ReadOptions

logger = logging.getLogger("tg_pipeline.readers")

if ROW_FIELDS != FIELD_NAMES:
    raise RuntimeError("the record schema changed: update json_message.ROW_FIELDS and its rows")

#: Rows of one chat held back while its fields are unknown, before a metadata pass.
PENDING_LIMIT = 20_000
#: Rows turned into Arrow at a time. The builder walks its rows column by column; a few
#: thousand rows keep their objects in the CPU cache for that (20k-row parts measured
#: ~20% slower). The parts are joined into the batch size the caller asked for.
PART_ROWS = 2048

_SECTIONS = ("chats", "left_chats")
_CHAT_KEYS = frozenset({"name", "type", "id", "messages"})
_META_KEYS = ("name", "type", "id")
_WHITESPACE = b" \t\r\n"
#: The deepest level a skipped value is pruned at: ``chats.list[i].<key>`` in an account.
_SKIPPED_LEVEL = 5
#: Exports smaller than this are read on one core: starting workers costs more than it saves.
PARALLEL_MIN_BYTES = PARALLEL_DUMP_BYTES
#: Bytes of messages per piece a worker reads (about 3,500 tdesktop messages). Small pieces
#: keep the summed memory of the parent and its workers under 300 MB on a 600 MB export.
PIECE_BYTES = 2 << 20
#: Pieces queued per worker: enough to keep it busy, few enough to keep memory flat.
PIECES_IN_FLIGHT_PER_WORKER = 2
_TIME_SOURCE = FIELD_NAMES.index("time_source")


class _NeedsCarefulRepair(Exception):
    """yajl met a raw control character inside a string: read again in careful mode."""


class _MetadataFound(Exception):
    def __init__(self, chat: _Chat) -> None:
        self.chat = chat


class _Sink(list[Any]):
    """Receives the finished root; the C pipeline appends to a list without a Python call."""

    send = list.append


def _chain_factory() -> Callable[[_Sink, Callable[[], dict[str, Any]]], Any] | None:
    """A builder of ijson's C pipeline with the stages wired C to C.

    ijson's public coroutine helpers chain the stages through bound ``send`` methods, which
    bypasses the C fast path and halves the throughput. The C types are constructed here
    directly; they look up their module state with a relative import from the calling
    frame's package, so the builder runs with ``ijson.backends`` as its package. If that
    ever stops working the reader falls back to the public helpers.
    """
    try:
        from ijson.backends import _yajl2
    except ImportError:
        return None
    source = (
        "def build(sink, map_type):\n"
        "    items = _yajl2.items_basecoro(sink, '', map_type)\n"
        "    parse = _yajl2.parse_basecoro(items)\n"
        "    return _yajl2.basic_parse_basecoro(parse, use_float=True)\n"
    )
    namespace: dict[str, Any] = {
        "__name__": "ijson.backends._tg_pipeline_chain",
        "__package__": "ijson.backends",
        "_yajl2": _yajl2,
    }
    try:
        exec(compile(source, "<tg_pipeline.readers.json_export>", "exec"), namespace)
        build = namespace["build"]
        sink = _Sink()
        probe = build(sink, dict)
        probe.send(b'{"a": [1, {"b": 2.5}]}')
        probe.close()
        if sink != [{"a": [1, {"b": 2.5}]}]:
            return None
    except Exception:
        return None
    return build


def _public_chain(sink: _Sink, map_type: Callable[[], dict[str, Any]]) -> Any:
    try:
        backend = ijson.get_backend("yajl2_c")
    except ImportError:
        backend = ijson
    return backend.items_coro(sink, "", map_type=map_type, use_float=True)


_BUILD_CHAIN = _chain_factory() or _public_chain


def read_json_export(path: Path, options: ReadOptions) -> Iterator[pa.RecordBatch]:
    """Records of a ``result.json`` in export order, in batches of ``options.batch_size``.

    A large single-chat export in tdesktop's layout is read as pieces on
    ``options.workers`` processes (default: all cores), with the same records, batches and
    errors as one pass (see :mod:`.json_split`).

    Raises :class:`DumpError` for a file that is not a readable Telegram export. Invalid
    ``\\xHH`` escapes and raw control characters are repaired and reported as a warning
    on the ``tg_pipeline.readers`` logger, never a rejection.
    """
    path = Path(path)
    zone(options.default_zone)
    emitted = 0
    workers = options.workers or os.cpu_count() or 1
    plan = None
    if workers > 1:
        try:
            if path.stat().st_size >= PARALLEL_MIN_BYTES:
                plan = plan_pieces(path, PIECE_BYTES)
        except OSError:
            plan = None
    if plan is not None and len(plan.pieces) > 1:
        outcome = _Outcome()
        for batch in _read_pieces(path, options, plan, workers, outcome):
            emitted += batch.num_rows
            yield batch
        if outcome.complete:
            if outcome.repaired:
                _log_repaired(path, outcome.repaired)
            return
    yield from _read_serial(path, options, emitted)


class _Outcome:
    """How a parallel read ended: every piece read, and the characters repaired."""

    def __init__(self) -> None:
        self.complete = False
        self.repaired = 0


def _log_repaired(path: Path, count: int) -> None:
    logger.warning(
        "%s: repaired %d invalid control character(s) in JSON strings "
        "(written as \\xHH or raw); the export was read anyway",
        path,
        count,
    )


def _read_serial(path: Path, options: ReadOptions, emitted: int) -> Iterator[pa.RecordBatch]:
    """One pass on this core; ``emitted`` rows were already yielded by an earlier attempt."""
    careful = False
    while True:
        reader = _Reader(path, options, careful=careful, skip=emitted)
        restart = False
        try:
            for batch in reader.batches():
                emitted += batch.num_rows
                yield batch
        except _NeedsCarefulRepair:
            restart = careful = True
            continue
        finally:
            if reader.repaired and not restart:
                _log_repaired(path, reader.repaired)
        return


def _read_pieces(
    path: Path, options: ReadOptions, plan: Plan, workers: int, outcome: _Outcome
) -> Iterator[pa.RecordBatch]:
    """Batches of the pieces read on ``workers`` cores, in export order.

    A piece a worker cannot read exactly as one pass would ends the parallel read early,
    with ``outcome.complete`` false: the caller then reads the rest on one core, which
    gives that pass's records and errors.
    """
    try:
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=pool_context(),
            initializer=watch_owner,
            initargs=(os.getpid(),),
        )
    except (OSError, NotImplementedError):
        return
    in_flight: deque[Future[Any]] = deque()
    queue = iter(enumerate(plan.pieces))
    regroup = _Regroup(options.batch_size)
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


def _add_positions(part: pa.RecordBatch, index: int, regroup: _Regroup) -> int:
    """Queue a piece's batch with its positions counted from the file's first message."""
    rows = part.num_rows
    numbers = pc.cast(pa.array(range(index, index + rows), pa.int64()), pa.string())
    positions = pc.binary_join_element_wise("messages[", numbers, "]", "")
    column = FIELD_NAMES.index("source_position")
    regroup.add_one(part.set_column(column, FIELD_NAMES[column], positions))
    return index + rows


def read_piece(
    path: str, head: bytes, piece: Piece, options: ReadOptions, first: bool
) -> tuple[list[pa.RecordBatch], int] | None:
    """A worker's records of one piece, and the characters it repaired.

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
    reader = _Reader(Path(path), options, careful=False, source=lambda: io.BytesIO(document))
    try:
        parts = list(reader.batches())
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


def _last_key(obj: dict[str, Any]) -> str | None:
    return next(reversed(obj), None)


def _prune(value: Any) -> list[Any]:
    """Empty a skipped value, including the containers the parser is still filling.

    Returns the containers emptied, outermost first: the parser may go on filling them,
    detached from the tree, and the nesting limit still has to see them.
    """
    emptied: list[Any] = []
    while True:
        if type(value) is list:
            following = value[-1] if value else None
        elif type(value) is dict:
            following = next(reversed(value.values()), None) if value else None
        else:
            return emptied
        value.clear()
        emptied.append(value)
        value = following


class _Chat:
    """One chat being read: its fields once known, and rows that wait for them."""

    def __init__(self, reader: _Reader, prefix: str) -> None:
        # A proxy, not a reference: a reader and its chats would otherwise form a cycle
        # that only a full collection frees. A worker reads hundreds of pieces and the
        # collector rarely runs one, so each piece's reader, with its text, would linger.
        self.reader: _Reader = weakref.proxy(reader)
        self.prefix = prefix
        self.taken = 0
        self.tdesktop_order: bool | None = None
        self.meta_final = False
        self.name: str | None = None
        self.type: str | None = None
        self.raw_id: int | None = None
        self.scheme: str | None = None
        self.resolved = False
        self.fields: tuple[int | None, str | None, str | None] = (None, None, None)
        self.positional: bool | None = None
        self.pending: list[list[Any]] = []
        self.undated = 0
        self.last_sent: int | None = None

    def position(self, index: int) -> str:
        return f"{self.prefix}messages[{index}]"

    def where(self, messages: list[Any]) -> str:
        if messages:
            return "in " + self.position(self.taken + len(messages) - 1)
        if self.taken:
            return "after " + self.position(self.taken - 1)
        return f"at the start of {self.prefix}messages"

    def note_order(self, chat: dict[str, Any]) -> None:
        """Whether tdesktop's order holds: some chat field written before the messages."""
        for key in chat:
            if key == "messages":
                self.tdesktop_order = False
                return
            if key in _META_KEYS:
                self.tdesktop_order = True
                return

    def read_meta(self, chat: dict[str, Any]) -> None:
        name = chat.get("name")
        kind = chat.get("type")
        raw = chat.get("id")
        self.name = name if type(name) is str else None
        self.type = kind if type(kind) is str else None
        if type(raw) is str and raw.lstrip("-").isdigit():
            raw = int(raw)
        self.raw_id = raw if type(raw) is int else None
        self.meta_final = True

    def take(self, messages: list[Any], chat: dict[str, Any]) -> None:
        reader = self.reader
        if reader.collect_only is not None:
            if self.scheme is None:
                self._observe(messages)
            self.taken += len(messages)
            return
        zone_name = reader.zone_name
        file = reader.file
        prefix = self.prefix
        append = reader.builder.append_values
        ready = reader.ready
        fields = self.fields
        # Rows go straight to the builder once the chat is settled; everything else
        # (first message, waiting rows, undated entries, a restart's skip) takes _place.
        direct = self.resolved and not self.pending and not reader.skip and self.positional is False
        index = self.taken
        last_sent = self.last_sent
        for msg in messages:
            position = f"{prefix}messages[{index}]"
            if type(msg) is not dict:
                raise DumpError("message is not a JSON object", file=file, position=position)
            try:
                row, scheme = message_row(msg, zone_name, fields, file, position)
            except BadMessage as exc:
                raise DumpError(str(exc), file=file, position=position) from None
            sent_at = row[SENT_AT]
            if direct and sent_at is not None and row[MESSAGE_ID] is not None:
                last_sent = sent_at
                try:
                    batch = append(row)
                except (pa.ArrowException, orjson.JSONEncodeError, TypeError, ValueError) as exc:
                    raise reader.store_error(exc, position) from None
                if batch is not None:
                    ready.append(batch)
            else:
                self.last_sent = last_sent
                self._place(row, scheme, index, position)
                last_sent = self.last_sent
                direct = (
                    self.resolved
                    and not self.pending
                    and not reader.skip
                    and self.positional is False
                )
            index += 1
        self.taken = index
        self.last_sent = last_sent
        if not self.resolved:
            self.resolve(chat, complete=False)
        if self.pending and self.resolved and not self.undated:
            self.flush()

    def _place(self, row: list[Any], scheme: str | None, index: int, position: str) -> None:
        """Everything the direct path leaves out: ids, dates, and rows that must wait."""
        file = self.reader.file
        if row[MESSAGE_ID] is None:
            if self.positional is None:
                self.positional = index == 0
            if not self.positional:
                raise DumpError("message has no 'id'", file=file, position=position)
            row[MESSAGE_ID] = index + 1
            row[EXTRA]["id_from_position"] = True
        elif self.positional:
            raise DumpError(
                "message has an 'id' but the chat's first message has none",
                file=file,
                position=position,
            )
        else:
            self.positional = False
        if scheme is not None and self.scheme is None:
            self.scheme = scheme
        pending = self.pending
        sent_at = row[SENT_AT]
        if sent_at is None:
            if "type" not in row[EXTRA]:
                raise DumpError("message has no 'date'", file=file, position=position)
            if self.last_sent is None:
                self.undated += 1
            else:
                row[SENT_AT] = self.last_sent
        else:
            self.last_sent = sent_at
            if self.undated:
                for waiting in pending[-self.undated :]:
                    waiting[SENT_AT] = sent_at
                self.undated = 0
        if self.resolved and not self.undated and not pending:
            self.reader.emit(row)
        else:
            pending.append(row)

    def _observe(self, messages: list[Any]) -> None:
        for msg in messages:
            if type(msg) is not dict:
                continue
            evidence = [msg.get("from_id"), msg.get("actor_id")]
            if "date_unixtime" in msg or any(type(v) is str for v in evidence):
                self.scheme = "new"
                return
            if any(type(v) is int for v in evidence):
                self.scheme = OLD_IDS
                return

    def resolve(self, chat: dict[str, Any], *, complete: bool) -> None:
        """Fix the chat's fields once they can no longer change."""
        if self.resolved:
            return
        overflow = len(self.pending) >= PENDING_LIMIT
        if not self.meta_final:
            if complete or self.tdesktop_order:
                self.read_meta(chat)
            elif overflow:
                self.reader.learn_metadata(self)
            else:
                return
        raw = self.raw_id
        if raw is None or raw < USER_SHIFT:
            chat_id = raw
        elif self.scheme is not None:
            chat_id = bare_chat_id(raw, self.scheme)
        elif complete or overflow:
            # No message says which id scheme the export used: only old exports wrote
            # chat ids this large, and they folded the peer kind into them.
            chat_id = bare_chat_id(raw, OLD_IDS)
        else:
            return
        if chat_id is not None and not -INT64_MAX <= chat_id <= INT64_MAX:
            raise DumpError(
                f"chat id {raw} is out of range", file=self.reader.file, position=self.prefix
            )
        self.fields = (chat_id, self.name, self.type)
        self.resolved = True

    def flush(self) -> None:
        chat_id, chat_name, chat_type = self.fields
        emit = self.reader.emit
        for row in self.pending:
            row[CHAT_ID] = chat_id
            row[CHAT_NAME] = chat_name
            row[CHAT_TYPE] = chat_type
            emit(row)
        self.pending.clear()

    def finish(self, chat: dict[str, Any]) -> None:
        if self.reader.collect_only is not None:
            self.read_meta(chat)
            if self.prefix == self.reader.collect_only:
                raise _MetadataFound(self)
            return
        self.resolve(chat, complete=True)
        if self.undated:
            first = self.pending[-self.undated][SOURCE_POSITION]
            raise DumpError(
                "entry has no date and no dated message in its chat",
                file=self.reader.file,
                position=first,
            )
        if self.pending:
            self.flush()


class _Section:
    """``chats`` or ``left_chats``: how many of its chats were read and removed."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.offset = 0
        self.current: _Chat | None = None


class _Regroup:
    """Joins the builder's parts into batches of exactly the requested size (the last one
    may be smaller)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.parts: list[pa.RecordBatch] = []
        self.rows = 0

    def add_one(self, part: pa.RecordBatch) -> None:
        self.parts.append(part)
        self.rows += part.num_rows

    def add(self, parts: list[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for part in parts:
            self.parts.append(part)
            self.rows += part.num_rows
        parts.clear()
        while self.rows >= self.size:
            yield self._take(self.size)

    def rest(self) -> Iterator[pa.RecordBatch]:
        if self.rows:
            yield self._take(self.rows)

    def _take(self, count: int) -> pa.RecordBatch:
        if len(self.parts) == 1 and self.rows == count:
            self.rows = 0
            return self.parts.pop()
        table = pa.Table.from_batches(self.parts)
        rest = table.slice(count)
        self.parts = [part for part in rest.to_batches() if part.num_rows]
        self.rows = rest.num_rows
        return table.slice(0, count).combine_chunks().to_batches()[0]


class _Reader:
    """One pass over the file. ``skip`` drops rows a previous pass already yielded;
    ``collect_only`` names a chat whose fields are wanted and makes the pass emit nothing."""

    def __init__(
        self,
        path: Path,
        options: ReadOptions,
        *,
        careful: bool,
        skip: int = 0,
        collect_only: str | None = None,
        source: Callable[[], BinaryIO] | None = None,
    ) -> None:
        self.path = path
        self.source = source
        self.file = str(path)
        self.options = options
        self.zone_name = options.default_zone
        self.careful = careful
        self.skip = skip
        self.collect_only = collect_only
        parts = -(-options.batch_size // PART_ROWS)
        self.builder = BatchBuilder(-(-options.batch_size // parts))
        self.ready: list[pa.RecordBatch] = []
        self.regroup = _Regroup(options.batch_size)
        #: The document's root object: the first object the parser creates is this one.
        self.root: dict[str, Any] | None = {}
        self.root_chat: _Chat | None = None
        self.sections: dict[str, _Section] = {}
        self.found = False
        self.repaired = 0
        self.fed = 0
        self.stream: RepairingStream | None = None
        #: The containers of the skipped value pruned last, which the parser may still fill.
        self.skipped: list[Any] = []

    def _new_map(self) -> Callable[[], dict[str, Any]]:
        """The parser's object factory: the root first, then new dicts, without a Python
        call per object (exports have several objects per message)."""
        return functools.partial(next, itertools.chain((self.root,), iter(dict, None)))

    # -- output ---------------------------------------------------------------------

    def emit(self, row: list[Any]) -> None:
        if self.skip:
            self.skip -= 1
            return
        try:
            batch = self.builder.append_values(row)
        except (pa.ArrowException, orjson.JSONEncodeError, TypeError, ValueError) as exc:
            raise self.store_error(exc, row[SOURCE_POSITION]) from None
        if batch is not None:
            self.ready.append(batch)

    def store_error(self, exc: Exception, position: str | None) -> DumpError:
        """A record the builder cannot turn into Arrow: a hand-made file's odd value."""
        where = f"in the batch of records ending at {position}" if position else None
        return DumpError(f"a value cannot be stored: {exc}", file=self.file, position=where)

    # -- the pass -------------------------------------------------------------------

    def batches(self) -> Iterator[pa.RecordBatch]:
        try:
            handle = self.source() if self.source else open(self.path, "rb")  # noqa: SIM115
        except OSError as exc:
            raise DumpError(f"cannot open: {exc.strerror or exc}", file=self.file) from None
        with handle:
            stream = self.stream = RepairingStream(handle, careful=self.careful)
            sink = _Sink()
            parser = _BUILD_CHAIN(sink, self._new_map())
            started = False
            collect = gc.isenabled()
            try:
                for chunk in stream.chunks():
                    if not started:
                        started = self._check_start(chunk)
                    self.repaired = stream.repaired
                    # Cyclic GC passes over the parser's short-lived, acyclic containers
                    # cost a quarter of the reading time; one pass per chunk is enough.
                    if collect:
                        gc.disable()
                    try:
                        feed_bounded(parser.send, chunk, self._depth)
                        self.fed += len(chunk)
                        if self.source is None and self.collect_only is None:
                            note_bytes(self.path, self.fed)
                        sink.clear()
                        self._drain(final=False)
                    except ijson.JSONError as exc:
                        raise self._syntax_error(exc, chunk) from None
                    except DepthExceeded as exc:
                        raise self._depth_error(exc.offset) from None
                    finally:
                        if collect:
                            gc.enable()
                    if self.ready:
                        yield from self.regroup.add(self.ready)
                if not started:
                    raise DumpError("the file is empty", file=self.file)
                try:
                    parser.close()
                except ijson.JSONError as exc:
                    raise self._syntax_error(exc, b"") from None
            except OSError as exc:
                raise DumpError(f"cannot read: {exc.strerror or exc}", file=self.file) from None
        self._drain(final=True)
        if not self.found:
            raise DumpError(
                "not a Telegram Desktop export: the JSON has no 'messages' and no 'chats'",
                file=self.file,
            )
        try:
            tail = self.builder.flush()
        except (pa.ArrowException, orjson.JSONEncodeError, TypeError, ValueError) as exc:
            raise self.store_error(exc, self.last_position()) from None
        if tail is not None:
            self.ready.append(tail)
        yield from self.regroup.add(self.ready)
        yield from self.regroup.rest()

    def last_position(self) -> str | None:
        chats = [self.root_chat, *(section.current for section in self.sections.values())]
        taken = [chat for chat in chats if chat is not None and chat.taken]
        return taken[-1].position(taken[-1].taken - 1) if taken else None

    def _check_start(self, chunk: bytes) -> bool:
        body = chunk.lstrip(_WHITESPACE)
        if not body:
            return False
        if body[:1] != b"{":
            raise DumpError(
                "not a Telegram Desktop export: the file does not start with a JSON object",
                file=self.file,
                position="byte 0",
            )
        return True

    def learn_metadata(self, chat: _Chat) -> None:
        """Read the whole file once more for one chat's fields, written after its messages."""
        scan = _Reader(self.path, self.options, careful=self.careful, collect_only=chat.prefix)
        try:
            for _ in scan.batches():
                pass
        except _MetadataFound as found:
            chat.name, chat.type, chat.raw_id = found.chat.name, found.chat.type, found.chat.raw_id
            if chat.scheme is None:
                chat.scheme = found.chat.scheme
        chat.meta_final = True

    # -- walking the half-built tree ------------------------------------------------

    def _drain(self, *, final: bool) -> None:
        root = self.root
        if root is None:
            return
        for key in list(root):
            value = root[key]
            if key == "messages":
                if self.root_chat is None:
                    self.root_chat = _Chat(self, "")
                self._drain_chat(self.root_chat, root, on_spine=not final)
            elif key in _SECTIONS and type(value) is dict:
                spine = not final and key == _last_key(root)
                self._drain_section(key, value, on_spine=spine)
            elif key not in _CHAT_KEYS:
                self.skipped = _prune(value)
                del root[key]

    def _drain_section(self, name: str, section: dict[str, Any], *, on_spine: bool) -> None:
        state = self.sections.get(name)
        if state is None:
            state = self.sections[name] = _Section(name)
        spine_key = _last_key(section) if on_spine else None
        for key in list(section):
            if key != "list":
                self.skipped = _prune(section[key])
                del section[key]
                continue
            chats = section["list"]
            if type(chats) is not list:
                raise DumpError(f"{name}.list is not a list", file=self.file, position=name)
            self.found = True
            last = len(chats) - 1
            done = 0
            for offset, chat in enumerate(chats):
                index = state.offset + offset
                if type(chat) is not dict:
                    raise DumpError(
                        "chat is not a JSON object",
                        file=self.file,
                        position=f"{name}.list[{index}]",
                    )
                current = state.current
                if current is None or current.prefix != f"{name}.list[{index}].":
                    current = state.current = _Chat(self, f"{name}.list[{index}].")
                on_chat_spine = spine_key == "list" and offset == last
                self._drain_chat(current, chat, on_spine=on_chat_spine)
                if not on_chat_spine:
                    done += 1
            if done:
                del chats[:done]
                state.offset += done

    def _drain_chat(self, chat: _Chat, obj: dict[str, Any], *, on_spine: bool) -> None:
        messages = obj.get("messages")
        if messages is not None:
            if type(messages) is not list:
                raise DumpError(
                    "'messages' is not a list", file=self.file, position=chat.prefix + "messages"
                )
            self.found = True
            if chat.tdesktop_order is None:
                chat.note_order(obj)
            count = len(messages)
            if on_spine and _last_key(obj) == "messages":
                count -= 1
            if count > 0:
                taken = messages[:count]
                del messages[:count]
                chat.take(taken, obj)
        if obj is not self.root:
            for key in list(obj):
                if key not in _CHAT_KEYS:
                    self.skipped = _prune(obj[key])
                    del obj[key]
        if not on_spine:
            chat.finish(obj)

    def _depth(self) -> int:
        """How deep the parser is, at most; a pruned value counts as at the deepest
        place a value is pruned (a chat's key in an account export, level 5)."""
        depth = tree_depth(self.root)
        for level, container in enumerate(self.skipped, start=_SKIPPED_LEVEL):
            depth = max(depth, level - 1 + tree_depth(container))
        return depth

    # -- errors ---------------------------------------------------------------------

    def _depth_error(self, local: int) -> DumpError:
        shift = self.stream.shift if self.stream is not None else 0
        position = f"before byte {max(self.fed + local - shift, 0)}"
        with contextlib.suppress(DumpError):
            self._drain(final=False)
        where = self._where()
        if where:
            position += f" ({where})"
        return DumpError(
            f"nesting depth exceeded: the JSON nests deeper than {MAX_DEPTH} levels",
            file=self.file,
            position=position,
        )

    def _where(self) -> str | None:
        """Which message the parser was in, walking the spine of the half-built tree."""
        root = self.root
        if root is None:
            return None
        key = _last_key(root)
        if key == "messages" and self.root_chat is not None:
            messages = root.get("messages")
            if type(messages) is list:
                return self.root_chat.where(messages)
        if key in _SECTIONS and type(root[key]) is dict and key in self.sections:
            section = root[key]
            chats = section.get("list")
            state = self.sections[key]
            if _last_key(section) == "list" and type(chats) is list and chats:
                chat = chats[-1]
                current = state.current
                if type(chat) is dict and _last_key(chat) == "messages" and current is not None:
                    messages = chat["messages"]
                    if type(messages) is list:
                        return current.where(messages)
                return f"in {key}.list[{state.offset + len(chats) - 1}]"
        return f"in '{key}'" if key else None

    def _syntax_error(self, exc: Exception, chunk: bytes) -> Exception:
        detail = exc.args[0] if exc.args else ""
        raw = detail if isinstance(detail, bytes) else str(detail).encode("utf-8", "replace")
        summary = raw.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
        if "invalid character inside string" in summary and not self.careful:
            return _NeedsCarefulRepair()
        stream = self.stream
        shift = stream.shift if stream is not None else 0
        if not chunk:
            offset = stream.consumed if stream is not None else self.fed
            message = "the JSON ends early: the file is truncated"
        else:
            local = _error_offset(raw, chunk)
            offset = self.fed + (local if local is not None else 0) - shift
            if "invalid bytes in UTF8" in summary:
                message = "invalid UTF-8 in a JSON string"
            elif "trailing garbage" in summary:
                message = "unexpected data after the end of the JSON document"
            else:
                message = f"invalid JSON ({summary.removeprefix('parse error: ')})"
            if local is None:
                message += " within the 256 KiB from this byte on"
        position = f"byte {max(offset, 0)}"
        where = self._where()
        if where:
            position += f" ({where})"
        return DumpError(message, file=self.file, position=position)


def _error_offset(detail: bytes, chunk: bytes) -> int | None:
    """Where in ``chunk`` yajl stopped, from the context window of its verbose message.

    yajl prints up to 30 bytes either side of the error with newlines blanked, indented so
    the error sits in column 40; the window is found again in the chunk.
    """
    lines = detail.split(b"\n")
    if len(lines) < 3:
        return None
    window = lines[1]
    plain = chunk.replace(b"\n", b" ").replace(b"\r", b" ")
    for offset in range(30):
        pad = 40 - offset
        if window[:pad].strip() == b"" and window[pad:] == plain[: offset + 30]:
            return offset
    body = window[10:]
    if window[:10].strip() or not body:
        return None
    found = plain.find(body)
    return found + 30 if found >= 0 else None
