"""The one upsert on PostgreSQL: stage the dump by binary COPY, then apply it set-based.

Each Arrow batch is bulk-loaded into a temp staging table (no row passes through Python),
then one classification and one UPDATE and one INSERT apply the whole dump, with the same
rules as the DuckDB upsert (:mod:`tg_pipeline.warehouse.upsert`): a stored row is replaced
only by a strictly better version (newer edit, then JSON over HTML), a re-ingest changes
nothing, and within a dump the newest edit wins, a later occurrence winning a tie.

Everything runs in one transaction, so a dump lands whole or not at all; a writer that
dies mid-dump leaves nothing behind (PostgreSQL rolls back a dead session's transaction
and drops its temp tables). Writers of different dumps run side by side: they touch the
same rows only where they share chats or senders, and then take turns on those rows.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import UTC, datetime

import pyarrow as pa

from tg_pipeline.warehouse.chat_identity import ChatResolver, ChatSeen, record_chats
from tg_pipeline.warehouse.chat_stats import ChatStatsWriter
from tg_pipeline.warehouse.counts import mark_counts_stale
from tg_pipeline.warehouse.dialect import POSTGRES
from tg_pipeline.warehouse.ledger import recognise, record_ingested
from tg_pipeline.warehouse.models import DumpRecord, IngestResult
from tg_pipeline.warehouse.pg.session import PgSession
from tg_pipeline.warehouse.pg.upsert_sql import (
    BATCH_CHATS,
    BATCH_SENDERS,
    CLASSIFY,
    REPEATED_AT,
)
from tg_pipeline.warehouse.prefetch import Prefetch
from tg_pipeline.warehouse.round_sql import (
    BATCH_VIEW,
    INSERT,
    INSERT_ALL,
    ORPHANS,
    UPDATE,
    names_sql,
)
from tg_pipeline.warehouse.rounds import REPEATS_SHOWN, ROUND_SCHEMA, _conform, _place
from tg_pipeline.warehouse.sender_names import (
    drop_sender_names,
    merge_senders,
    start_sender_names,
)

_NAMES = names_sql(POSTGRES)

#: Rows per COPY into the staging table: fewer round trips, a bounded amount held.
COPY_ROWS = 50_000


def ingest(
    session: PgSession,
    batches: Iterable[pa.RecordBatch],
    *,
    dump: DumpRecord,
    chat_id: int | None = None,
    prefetch: bool = True,
    recognise_unchanged: bool = True,
) -> IngestResult:
    """Upsert one dump in one transaction; any exception (the reader's too) rolls it back.

    The reader runs on a helper thread a couple of batches ahead (``prefetch``): parsing is
    Python, the COPY is the driver's C code and the server, so the two overlap."""
    try:
        if recognise_unchanged:
            known = recognise(session, dump, chat_id)
            if known is not None:
                close = getattr(batches, "close", None)
                if close is not None:
                    close()
                session.rollback()
                return known
        source = Prefetch(batches) if prefetch else None
        try:
            result = _Staged(session, dump, chat_id).run(source if source is not None else batches)
        finally:
            if source is not None:
                source.close()
        session.commit()
    except BaseException:
        with contextlib.suppress(Exception):
            session.rollback()
        raise
    return result


class _Staged:
    def __init__(self, session: PgSession, dump: DumpRecord, chat_id: int | None) -> None:
        self.session = session
        self.dump = dump
        self.now = datetime.now(UTC)
        self.chats = ChatResolver(session, dump.dump_id, self.now, chat_id)
        self.seen: dict[int, ChatSeen] = {}

    def run(self, batches: Iterable[pa.RecordBatch]) -> IngestResult:
        s, params = self.session, [self.now, self.dump.dump_id]
        rows = self._stage(batches)
        for chat_id, name, chat_type, latest in s.execute(BATCH_CHATS).fetchall():
            # Seeing a real chat may move a surrogate chat's stored rows under its id.
            self.chats.first_sight(chat_id, name, chat_type, latest)
            self.seen[chat_id] = ChatSeen(name, chat_type, latest)
        senders = {k for (k,) in s.execute(BATCH_SENDERS).fetchall()}
        start_sender_names(s, POSTGRES)
        s.execute("DROP TABLE IF EXISTS _tg_cls")
        s.execute(CLASSIFY)
        ops: dict[str, int] = {}
        repeated = 0
        for op, count, repeats in s.execute(
            "SELECT _op, count(*), sum(_repeats) FROM _tg_cls GROUP BY _op"
        ).fetchall():
            ops[op] = int(count)
            repeated += int(repeats or 0)
        shown = self._repeats_shown() if repeated else []
        new, updated = ops.get("new", 0), ops.get("updated", 0)
        stats = ChatStatsWriter(s)
        stats.apply(ops, rows)
        if updated:
            s.execute(UPDATE, params)
            s.execute(ORPHANS)
        if new == rows:
            s.execute(INSERT_ALL, params)
        elif new:
            s.execute(INSERT, params)
        if ops:
            s.execute(_NAMES)
        stats.finish()
        record_chats(s, self.seen, self.chats.rekeyed, self.dump.dump_id, self.now)
        merge_senders(s, self.now, POSTGRES)
        record_ingested(
            s,
            self.dump,
            rows=rows,
            new=new,
            updated=updated,
            senders=senders,
            chat_id_given=self.chats.given,
            now=self.now,
        )
        if new or updated:
            mark_counts_stale(s, POSTGRES)
        for table in (BATCH_VIEW, "_tg_cls"):
            s.execute(f"DROP TABLE IF EXISTS {table}")
        drop_sender_names(s)
        return IngestResult(
            new=new,
            updated=updated,
            unchanged=rows - new - updated - repeated,
            rows=rows,
            duplicates=repeated,
            duplicates_shown=tuple(shown),
            chats=sorted(self.seen),
            senders=sorted(senders),
            rekeyed=dict(self.chats.rekeyed),
        )

    def _stage(self, batches: Iterable[pa.RecordBatch]) -> int:
        """Copy every batch into the staging table, chat ids resolved; the row count."""
        s = self.session
        s.execute(f"DROP TABLE IF EXISTS {BATCH_VIEW}")
        seq = 0
        group: list[pa.RecordBatch] = []
        held = 0
        for batch in batches:
            if not batch.num_rows:
                continue
            group.append(self.chats.fill(_conform(batch)))
            held += batch.num_rows
            if held >= COPY_ROWS:
                seq = self._copy(group, seq)
                group, held = [], 0
        if group:
            seq = self._copy(group, seq)
        if seq == 0:
            s.load(BATCH_VIEW, ROUND_SCHEMA.empty_table(), create=True)
        # The planner's row estimate for a fresh temp table is a guess until analysed.
        s.execute(f"ANALYZE {BATCH_VIEW}")
        return seq

    def _copy(self, group: list[pa.RecordBatch], seq: int) -> int:
        """One COPY of ``group`` into the staging table (created by the first); the next
        ``_seq``."""
        table = pa.Table.from_batches(group)
        n = table.num_rows
        table = table.append_column("_seq", pa.array(range(seq, seq + n), pa.int64()))
        self.session.load(BATCH_VIEW, table, create=seq == 0)
        return seq + n

    def _repeats_shown(self) -> list[str]:
        s = self.session
        keys = s.execute(
            f"SELECT chat_id, message_id FROM _tg_cls WHERE _repeats > 0 "
            f"ORDER BY _seq LIMIT {REPEATS_SHOWN}"
        ).fetchall()
        shown = []
        for chat_id, message_id in keys:
            places = s.execute(REPEATED_AT, [chat_id, message_id]).fetchall()
            where = " and ".join(_place(file, position) for file, position in places)
            shown.append(f"message {message_id} of chat {chat_id} {len(places)} times: {where}")
        return shown
