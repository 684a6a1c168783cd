"""The one upsert on PostgreSQL: the dump in rounds, each loaded by binary COPY and applied
set-based while the reader parses the next.

A round of new rows (keys distinct, none stored in their ranges: a first load) is COPYed
straight into ``messages``. Any other round is COPYed into a temp staging table, then one
classification against the stored rows and one UPDATE and one INSERT apply it, with the
same rules as the DuckDB upsert (:mod:`tg_pipeline.warehouse.rounds`): a stored row is
replaced only by a strictly better version (newer edit, then JSON over HTML), a re-ingest
changes nothing, and within a dump the newest edit wins, a later occurrence winning a tie
(also against a row an earlier round wrote). The chats, sender keys and names of rows going
in whole come from their Arrow batches (:mod:`tg_pipeline.warehouse.batch_facts`), so no
statement reads the rows back.

Everything runs in one transaction, so a dump lands whole or not at all; a writer that
dies mid-dump leaves nothing behind (PostgreSQL rolls back a dead session's transaction
and drops its temp tables). Writers of different dumps run side by side: they touch the
same rows only where they share chats or senders, and then take turns on those rows.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from tg_pipeline.warehouse.batch_facts import DumpFacts, names_of_new
from tg_pipeline.warehouse.chat_identity import ChatResolver, record_chats
from tg_pipeline.warehouse.chat_stats import ChatStatsWriter
from tg_pipeline.warehouse.counts import mark_counts_stale
from tg_pipeline.warehouse.dialect import POSTGRES
from tg_pipeline.warehouse.ledger import recognise, record_ingested
from tg_pipeline.warehouse.models import DumpRecord, IngestResult
from tg_pipeline.warehouse.pg.session import PgSession
from tg_pipeline.warehouse.pg.upsert_sql import CLASSIFY, stored_in_spans
from tg_pipeline.warehouse.prefetch import Prefetch
from tg_pipeline.warehouse.round_sql import (
    BATCH_VIEW,
    INSERT,
    INSERT_ALL,
    ORPHANS,
    REPEATED_AT,
    UPDATE,
    names_sql,
)
from tg_pipeline.warehouse.rounds import REPEATS_SHOWN, _conform, _place, _Tally
from tg_pipeline.warehouse.sender_names import (
    drop_sender_names,
    merge_senders,
    start_sender_names,
)

_NAMES = names_sql(POSTGRES)

#: A round closes with the batch that brings it to this many rows: few statements per
#: dump, a bounded amount held, and rounds small enough for the server to apply one while
#: the reader parses the next.
ROUND_ROWS = 50_000


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

    The reader runs on a helper thread a couple of batches ahead (``prefetch``): while the
    server applies one round, the reader parses the next."""
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
    """One dump applied round by round (:meth:`_round`), then the tables derived from it
    and its ledger row (the rest of :meth:`run`)."""

    def __init__(self, session: PgSession, dump: DumpRecord, chat_id: int | None) -> None:
        self.session = session
        self.dump = dump
        self.now = datetime.now(UTC)
        self.chats = ChatResolver(session, dump.dump_id, self.now, chat_id)
        self.facts = DumpFacts()
        self.tally = _Tally()
        self.names: list[pa.Table] = []
        self.stats = ChatStatsWriter(session)
        self.staging = False

    @property
    def params(self) -> list[object]:
        """``$1`` and ``$2`` of every statement: this ingest's timestamp and the dump id."""
        return [self.now, self.dump.dump_id]

    def run(self, batches: Iterable[pa.RecordBatch]) -> IngestResult:
        s, t = self.session, self.tally
        start_sender_names(s, POSTGRES)
        for rows in self._rounds(batches):
            self._round(rows)
            del rows
            # Hand the round's Arrow memory back while the next round is read: the
            # allocator would keep it beside what the reader builds.
            pa.default_memory_pool().release_unused()
        self.stats.finish()
        # Names of the rounds that went in whole; classified rounds added theirs in SQL.
        if self.names:
            s.load("_tg_names", pa.concat_tables(self.names), create=False)
        t.chats = self.facts.chats
        t.senders = self.facts.senders
        record_chats(s, t.chats, self.chats.rekeyed, self.dump.dump_id, self.now)
        merge_senders(s, self.now, POSTGRES)
        record_ingested(
            s,
            self.dump,
            rows=t.rows,
            new=t.new,
            updated=t.updated,
            senders=t.senders,
            chat_id_given=self.chats.given,
            now=self.now,
        )
        if t.new or t.updated:
            mark_counts_stale(s, POSTGRES)
        for table in (BATCH_VIEW, "_tg_cls"):
            s.execute(f"DROP TABLE IF EXISTS {table}")
        drop_sender_names(s)
        return t.result(self.chats.rekeyed)

    def _rounds(self, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.Table]:
        """The dump's rows in rounds of about :data:`ROUND_ROWS`, chat ids resolved."""
        group: list[pa.RecordBatch] = []
        held = 0
        for batch in batches:
            if not batch.num_rows:
                continue
            group.append(self.chats.fill(_conform(batch)))
            held += batch.num_rows
            if held >= ROUND_ROWS:
                yield pa.Table.from_batches(group)
                group, held = [], 0
        if group:
            yield pa.Table.from_batches(group)

    def _round(self, rows: pa.Table) -> None:
        t = self.tally
        shown, keys = self.facts.add(rows)
        # Chats first: seeing one may move a surrogate chat's stored rows under its real
        # id, into this round's key range.
        for chat_id, seen in shown.items():
            self.chats.first_sight(chat_id, seen.name, seen.type, seen.latest)
        t.rows += rows.num_rows
        if self._all_new(rows):
            self._insert_new(rows, keys)
        else:
            self._stage(rows)
            self._classify_and_apply(rows.num_rows)

    def _all_new(self, rows: pa.Table) -> bool:
        """Whether every row of the round is new, checked without classifying it: its keys
        are distinct and no stored row lies in any of its chats' message id ranges. That is
        how a first load, a backup restored into an empty table, or a later export's tail
        looks."""
        spans = rows.group_by("chat_id").aggregate(
            [
                ("message_id", "min"),
                ("message_id", "max"),
                ("message_id", "count_distinct"),
            ]
        )
        if pc.sum(spans["message_id_count_distinct"]).as_py() != rows.num_rows:
            return False
        found = self.session.execute(
            stored_in_spans(
                list(
                    zip(
                        spans["chat_id"].to_pylist(),
                        spans["message_id_min"].to_pylist(),
                        spans["message_id_max"].to_pylist(),
                        strict=True,
                    )
                )
            )
        ).fetchall()
        return not found[0][0]

    def _insert_new(self, rows: pa.Table, keys: pa.ChunkedArray) -> None:
        """COPY a round of new rows straight into ``messages``, stamped as the INSERT
        stamps them, and note their senders' names."""
        n = rows.num_rows
        stored = (
            rows.append_column("sender_key", keys)
            .append_column("ingested_dump", pa.repeat(pa.scalar(self.dump.dump_id), n))
            .append_column(
                "updated_at", pa.repeat(pa.scalar(self.now, pa.timestamp("us", tz="UTC")), n)
            )
        )
        self.session.load("messages", stored, create=False, temporary=False)
        self.stats.add(rows)
        self.names.append(names_of_new(rows, keys))
        self.tally.new += n

    def _stage(self, rows: pa.Table) -> None:
        """Load the round, with each row's position in it (``_seq``), as the staging table."""
        s = self.session
        staged = rows.append_column("_seq", pa.array(range(rows.num_rows), pa.int64()))
        if self.staging:
            s.execute(f"TRUNCATE {BATCH_VIEW}")
        else:
            s.execute(f"DROP TABLE IF EXISTS {BATCH_VIEW}")
        s.load(BATCH_VIEW, staged, create=not self.staging)
        self.staging = True

    def _classify_and_apply(self, count: int) -> None:
        s, t, params = self.session, self.tally, self.params
        s.execute("DROP TABLE IF EXISTS _tg_cls")
        s.execute(CLASSIFY, params)
        ops: dict[str, int] = {}
        repeated = 0
        for op, n, repeats in s.execute(
            "SELECT _op, count(*), sum(_repeats) FROM _tg_cls GROUP BY _op"
        ).fetchall():
            ops[op] = int(n)
            repeated += int(repeats or 0)
        if repeated:
            self._note_repeats(repeated)
        t.new += ops.get("new", 0)
        t.updated += ops.get("updated", 0)
        self.stats.apply(ops, count)
        if ops.get("updated") or ops.get("dup"):
            s.execute(UPDATE, params)
            s.execute(ORPHANS)
        if ops.get("new") == count:
            s.execute(INSERT_ALL, params)
        elif ops.get("new"):
            s.execute(INSERT, params)
        if ops:
            s.execute(_NAMES)

    def _note_repeats(self, repeated: int) -> None:
        """Count the round's repeated keys and describe the first few, with the places
        the dump holds each one."""
        s, t = self.session, self.tally
        t.repeated += repeated
        wanted = REPEATS_SHOWN - len(t.repeats_shown)
        if wanted <= 0:
            return
        keys = s.execute(
            f"SELECT chat_id, message_id FROM _tg_cls WHERE _repeats > 0 "
            f"ORDER BY _seq LIMIT {wanted}"
        ).fetchall()
        for chat_id, message_id in keys:
            places = s.execute(REPEATED_AT, [*self.params, chat_id, message_id]).fetchall()
            where = " and ".join(_place(file, position) for file, position in places)
            t.repeats_shown.append(
                f"message {message_id} of chat {chat_id} {len(places)} times: {where}"
            )
