"""The upsert of one dump in rounds of Arrow batches: classify each round, then apply it.

Each round's batches are registered with DuckDB as :data:`.round_sql.BATCH_VIEW` and
scanned in place (no row passes through Python). One join classifies them against the
stored rows into a narrow temp table (keys, sender, verdict); one set-based UPDATE and
one INSERT apply them. A round of rising keys with no stored row in their range is all new
and goes straight in, unclassified.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from tg_pipeline.errors import TgPipelineError
from tg_pipeline.records import MESSAGE_SCHEMA
from tg_pipeline.warehouse.arrow_slot import ArrowSlot
from tg_pipeline.warehouse.chat_identity import ChatResolver, ChatSeen, record_chats
from tg_pipeline.warehouse.chat_stats import recompute
from tg_pipeline.warehouse.ledger import record_ingested
from tg_pipeline.warehouse.models import DumpRecord, IngestResult
from tg_pipeline.warehouse.round_sql import (
    BATCH_CHATS,
    BATCH_SENDERS,
    BATCH_VIEW,
    CLASSIFY,
    INSERT,
    INSERT_ALL,
    NAMES,
    NAMES_ALL_NEW,
    ORPHANS,
    REPEATED_AT,
    STORED_IN_RANGE,
    UPDATE,
)
from tg_pipeline.warehouse.sender_names import (
    drop_sender_names,
    merge_senders,
    start_sender_names,
)

if TYPE_CHECKING:
    import duckdb

#: A round closes with the batch that brings it to this many rows: enough that the
#: per-statement overhead is paid rarely, few enough to bound what a round holds.
GROUP_ROWS = 25_000

#: Repeated keys described one by one in the result; the rest are only counted.
REPEATS_SHOWN = 3

#: A round's rows as the SQL reads them: the record, and its position in the round.
ROUND_SCHEMA = MESSAGE_SCHEMA.append(pa.field("_seq", pa.int64()))


@dataclass
class _Tally:
    new: int = 0
    updated: int = 0
    rows: int = 0
    repeated: int = 0
    repeats_shown: list[str] = field(default_factory=list)
    chats: dict[int, ChatSeen] = field(default_factory=dict)
    senders: set[str] = field(default_factory=set)

    def result(self, rekeyed: dict[int, int]) -> IngestResult:
        """What the dump changed, as both backends' upserts report it."""
        return IngestResult(
            new=self.new,
            updated=self.updated,
            unchanged=self.rows - self.new - self.updated - self.repeated,
            rows=self.rows,
            duplicates=self.repeated,
            duplicates_shown=tuple(self.repeats_shown),
            chats=sorted(self.chats),
            senders=sorted(self.senders),
            rekeyed=dict(rekeyed),
        )


def _place(file: str | None, position: str | None) -> str:
    """A record's place for a person: the file's folder and name, and where in it."""
    parts = (file or "?").replace("\\", "/").split("/")
    return f"{'/'.join(parts[-2:])} {position or ''}".rstrip()


def _conform(batch: pa.RecordBatch) -> pa.RecordBatch:
    if batch.schema.equals(MESSAGE_SCHEMA, check_metadata=False):
        return batch
    try:
        arrays = [batch.column(f.name).cast(f.type) for f in MESSAGE_SCHEMA]
    except (KeyError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise TgPipelineError(f"batch does not fit the record schema: {exc}") from exc
    return pa.RecordBatch.from_arrays(arrays, schema=MESSAGE_SCHEMA)


class Upsert:
    """One dump into ``messages`` and the tables derived from it, inside one transaction
    that the caller owns."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, dump: DumpRecord, chat_id: int | None
    ) -> None:
        self.con = con
        self.dump = dump
        self.now = datetime.now(UTC)
        self._chats = ChatResolver(con, dump.dump_id, self.now, chat_id)
        self._tally = _Tally()

    @property
    def params(self) -> list[object]:
        """``$1`` and ``$2`` of every statement: this ingest's timestamp and the dump id."""
        return [self.now, self.dump.dump_id]

    def start(self) -> None:
        start_sender_names(self.con)

    def run(self, batches: Iterable[pa.RecordBatch]) -> IngestResult:
        self.start()
        with ArrowSlot(self.con, BATCH_VIEW, ROUND_SCHEMA) as rounds:
            group: list[pa.RecordBatch] = []
            size = 0
            for batch in batches:
                if not batch.num_rows:
                    continue
                group.append(self._chats.fill(_conform(batch)))
                size += batch.num_rows
                if size >= GROUP_ROWS:
                    self._apply(group, rounds)
                    group, size = [], 0
                    # Hand the round's Arrow memory back while the next round is read: the
                    # slot would hold it, and the allocator would keep it, on top of what
                    # DuckDB holds for the insert.
                    rounds.release()
                    pa.default_memory_pool().release_unused()
            if group:
                self._apply(group, rounds)
        return self.result()

    def result(self) -> IngestResult:
        """Finish the dump's derived tables and its ledger row; what the dump changed."""
        self._finish()
        return self._tally.result(self._chats.rekeyed)

    def _apply(self, group: list[pa.RecordBatch], rounds: ArrowSlot) -> None:
        con, tally = self.con, self._tally
        batch = pa.Table.from_batches(group)
        offsets = [0]
        for part in group:
            offsets.append(offsets[-1] + part.num_rows)
        seq = pa.chunked_array(
            [pa.array(range(a, b), pa.int64()) for a, b in itertools.pairwise(offsets)]
        )
        rounds.hold(batch.append_column("_seq", seq))
        params = self.params
        span = pc.min_max(batch.column("message_id"))
        low, high = span["min"], span["max"]
        # Chats first: seeing one may move a surrogate chat's stored rows under its real
        # id, into this round's key range.
        self.see_chats()
        if self._all_new(batch, low.as_py(), high.as_py()):
            con.execute(INSERT_ALL, params)
            self.name_all_new()
            self.count_new(batch.num_rows)
            return
        tally.senders.update(k for (k,) in con.execute(BATCH_SENDERS).fetchall())
        con.execute(CLASSIFY, [*params, low.as_py(), high.as_py()])
        ops: dict[str, int] = {}
        repeated = 0
        for op, count, repeats in con.execute(
            "SELECT _op, count(*), sum(_repeats) FROM _tg_cls GROUP BY _op"
        ).fetchall():
            ops[op] = count
            repeated += int(repeats or 0)
        if repeated:
            self._note_repeats(repeated, params)
        tally.rows += batch.num_rows
        tally.new += ops.get("new", 0)
        tally.updated += ops.get("updated", 0)
        if ops.get("updated") or ops.get("dup"):
            con.execute(UPDATE, params)
            con.execute(ORPHANS)
        if ops.get("new") == batch.num_rows:
            con.execute(INSERT_ALL, params)
        elif ops.get("new"):
            con.execute(INSERT, params)
        if ops:
            con.execute(NAMES)

    def _note_repeats(self, repeated: int, params: list[object]) -> None:
        """Count the round's repeated keys and describe the first few, with the places
        the dump holds each one."""
        tally = self._tally
        tally.repeated += repeated
        wanted = REPEATS_SHOWN - len(tally.repeats_shown)
        if wanted <= 0:
            return
        keys = self.con.execute(
            f"SELECT chat_id, message_id FROM _tg_cls WHERE _repeats > 0 "
            f"ORDER BY _seq LIMIT {wanted}"
        ).fetchall()
        for chat_id, message_id in keys:
            places = self.con.execute(REPEATED_AT, [*params, chat_id, message_id]).fetchall()
            where = " and ".join(_place(file, position) for file, position in places)
            tally.repeats_shown.append(
                f"message {message_id} of chat {chat_id} {len(places)} times: {where}"
            )

    def see_chats(self) -> None:
        """Register the chats of the round :data:`BATCH_VIEW` holds, before its rows land."""
        con, tally = self.con, self._tally
        for chat_id, name, chat_type, latest in con.execute(BATCH_CHATS).fetchall():
            self._chats.first_sight(chat_id, name, chat_type, latest)
            seen = tally.chats.get(chat_id)
            if seen is None or (
                latest is not None and (seen.latest is None or latest >= seen.latest)
            ):
                tally.chats[chat_id] = ChatSeen(
                    name, chat_type or (seen.type if seen else None), latest
                )

    def count_new(self, rows: int) -> None:
        """Count a round inserted whole: every row new."""
        self._tally.rows += rows
        self._tally.new += rows

    def name_all_new(self) -> None:
        """Record the names of a round inserted whole, and note its senders: every sender
        key of such a round gets a names row, so those rows list them, and the round's keys
        need no second pass."""
        named = self.con.execute(NAMES_ALL_NEW + " RETURNING sender_key").fetchall()
        self._tally.senders.update(k for (k,) in named)

    def _all_new(self, batch: pa.Table, low: int, high: int) -> bool:
        """Whether every row of the round is new, checked without classifying it.

        True when the round's keys run strictly upwards (so none repeats within it) and no
        stored row lies in their key range. That is how a backup restores into an empty
        table, or a later export adds its tail: the rows go straight in, skipping the
        join that decides between new, updated and unchanged.
        """
        chats = batch.column("chat_id").combine_chunks()
        ids = batch.column("message_id").combine_chunks()
        n = len(ids)
        if n > 1:
            c0, c1 = chats.slice(0, n - 1), chats.slice(1)
            m0, m1 = ids.slice(0, n - 1), ids.slice(1)
            rising = pc.or_(pc.greater(c1, c0), pc.and_(pc.equal(c1, c0), pc.greater(m1, m0)))
            if not pc.all(rising).as_py():
                return False
        first = (chats[0].as_py(), ids[0].as_py())
        last = (chats[n - 1].as_py(), ids[n - 1].as_py())
        row = self.con.execute(
            STORED_IN_RANGE, [first[0], last[0], first[1], last[1], low, high]
        ).fetchall()
        return bool(row) and row[0][0] == 0

    def _finish(self) -> None:
        con, tally, now = self.con, self._tally, self.now
        recompute(con, tally.chats)
        record_chats(con, tally.chats, self._chats.rekeyed, self.dump.dump_id, now)
        merge_senders(con, now)
        record_ingested(
            con,
            self.dump,
            rows=tally.rows,
            new=tally.new,
            updated=tally.updated,
            senders=tally.senders,
            chat_id_given=self._chats.given,
            now=now,
        )
        con.execute("DROP TABLE IF EXISTS _tg_cls")
        drop_sender_names(con)
