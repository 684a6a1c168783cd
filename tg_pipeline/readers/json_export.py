"""Streaming reader for Telegram Desktop's machine-readable export (``result.json``).

One pass over the file handles both roots: a single chat (``{name, type, id, messages}``)
and a whole account (``chats.list[]``, ``left_chats.list[]``, plus account sections that
are skipped). ijson's yajl2 C backend builds the *whole document* with one C pipeline; a
``map_type`` hook hands the reader the root object as soon as it is created, and after
every chunk fed the reader takes the finished messages out of the half-built tree and
deletes them. Only the spine being built (root -> chat -> message) stays in memory, so
memory does not grow with the file, while every message is still built in C
(:mod:`.json_chain`, :mod:`.json_pass`). ``ijson.items`` would take one prefix and could
not see chat boundaries; a Python loop over ``ijson.parse`` events is several times slower.

A large single-chat export in tdesktop's layout is cut into pieces that worker processes
read with this same pass (:mod:`.json_split`, :mod:`.json_parallel`); anything a piece
cannot reproduce exactly falls back to one pass. On one core such an export is read piece
by piece in this process, and a file of at most ``WHOLE_MAX_BYTES`` whole: where orjson
gives the values ijson would (:mod:`.json_whole`), it builds a piece or a small file in
one call, and the same walk makes the same rows from them.

Order of keys: tdesktop writes a chat's ``name``/``type``/``id`` before its messages, so
the chat fields are known when the first message arrives. A hand-made file may put them
after the messages; such a chat's rows wait until the chat ends, and past
``PENDING_LIMIT`` rows the reader learns the chat's fields with a separate metadata-only
pass instead of buffering more (:mod:`.json_chat`).

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

This module holds the entry point; it imports only the JSON reader's own modules and the
record schema.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from tg_pipeline.errors import DumpError
from tg_pipeline.readers import json_parallel
from tg_pipeline.readers.json_message import ROW_FIELDS
from tg_pipeline.readers.json_pass import JsonPass, NeedsCarefulRepair
from tg_pipeline.readers.json_whole import parse_whole
from tg_pipeline.readers.progress import note_bytes
from tg_pipeline.readers.timeparse import zone
from tg_pipeline.records import FIELD_NAMES, ReadOptions

logger = logging.getLogger("tg_pipeline.readers")

#: Files up to this size are parsed whole; larger ones are read piece by piece or in one
#: streaming pass, so memory does not grow with the file.
WHOLE_MAX_BYTES = 2 * json_parallel.PIECE_BYTES

if ROW_FIELDS != FIELD_NAMES:
    raise RuntimeError("the record schema changed: update json_message.ROW_FIELDS and its rows")


def read_json_export(path: Path, options: ReadOptions) -> Iterator[pa.RecordBatch]:
    """Records of a ``result.json`` in export order, in batches of ``options.batch_size``.

    A large single-chat export in tdesktop's layout is read as pieces on
    ``options.workers`` processes (default: all cores), with the same records, batches and
    errors as one pass (see :mod:`.json_parallel`).

    Raises :class:`DumpError` for a file that is not a readable Telegram export. Invalid
    ``\\xHH`` escapes and raw control characters are repaired and reported as a warning
    on the ``tg_pipeline.readers`` logger, never a rejection.
    """
    path = Path(path)
    zone(options.default_zone)
    emitted = 0
    workers = options.workers or os.cpu_count() or 1
    plan = json_parallel.plan(path, workers)
    if plan is None:
        whole = _read_whole(path, options)
        if whole is not None:
            yield from whole
            return
        plan = json_parallel.plan_here(path)
        workers = 1
    if plan is not None:
        outcome = json_parallel.Outcome()
        for batch in json_parallel.read_pieces(path, options, plan, workers, outcome):
            emitted += batch.num_rows
            yield batch
        if outcome.complete:
            if outcome.repaired:
                _log_repaired(path, outcome.repaired)
            return
    yield from _read_serial(path, options, emitted)


def _read_whole(path: Path, options: ReadOptions) -> list[pa.RecordBatch] | None:
    """A small file's batches parsed whole (:mod:`.json_whole`), or None for the one pass:
    where orjson cannot vouch for the values, and where the file is rejected, so that the
    one pass yields what it yields before its error."""
    try:
        size = path.stat().st_size
        if size > WHOLE_MAX_BYTES:
            return None
        root = parse_whole(path.read_bytes())
    except OSError:
        return None
    if root is None:
        return None
    try:
        batches = list(JsonPass(path, options, careful=False).batches_of(root))
    except DumpError:
        return None
    note_bytes(path, size)
    return batches


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
        reader = JsonPass(path, options, careful=careful, skip=emitted)
        restart = False
        try:
            for batch in reader.batches():
                emitted += batch.num_rows
                yield batch
        except NeedsCarefulRepair:
            restart = careful = True
            continue
        finally:
            if reader.repaired and not restart:
                _log_repaired(path, reader.repaired)
        return
