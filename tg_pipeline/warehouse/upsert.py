"""The one upsert every dump goes through: HTML, JSON and backups alike.

A dump streams in as Arrow batches, applied in rounds of about :data:`GROUP_ROWS` rows.
DuckDB scans each round's batches in place (no row passes through Python), classifies
them against the stored rows in one join into a narrow temp table (keys, sender, verdict),
then applies them with one set-based UPDATE and one INSERT. Staging whole dumps in a temp
table first would compress every row twice; rounds keep memory bounded and let the key
range of a round prune the stored table through zone maps. A round of rising keys with
no stored row in their range (a restore into an empty table, the tail of a newer export)
is all new and goes straight in, unclassified.

A dump whose content was already ingested, with nothing deleted since, is recognised by
its fingerprint and not read at all (see :func:`recognise`).

All rounds run inside one transaction, so a dump lands whole or not at all (an exception
from the reader rolls it back too), and a key that appears again in a later round of the
same dump is compared with the version an earlier round just wrote.

The reader runs on a helper thread a couple of batches ahead: parsing is Python, the
upsert is DuckDB (which releases the GIL), so the two overlap on two cores.

Which version of a message wins is decided by ``(edit time, quality)``
(:func:`.columns.edit_rank_sql`, :func:`.columns.quality_sql`): an incoming row replaces
the stored one only when it is strictly better, so re-ingesting a dump changes nothing
and an older export never overwrites a newer edit. Within one dump the newest edit wins,
and a later occurrence of a key wins a tie.

Chats without an id (HTML) are resolved here, see :class:`ChatResolver`.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from tg_pipeline.errors import TgPipelineError
from tg_pipeline.records import MESSAGE_SCHEMA, BackupScan
from tg_pipeline.warehouse.columns import (
    RECORD_COLUMNS,
    SURROGATE_CEILING,
    edit_rank_sql,
    is_surrogate_chat_id,
    quality_sql,
    sender_key_sql,
    surrogate_chat_id,
)
from tg_pipeline.warehouse.counts import mark_counts_stale
from tg_pipeline.warehouse.models import DumpRecord, IngestResult
from tg_pipeline.warehouse.prefetch import Prefetch

_BATCH_VIEW = "_tg_batch"

#: A round closes with the batch that brings it to this many rows: two of the reader's
#: 20k-row batches. The per-statement overhead is still paid rarely, and a 1M-message
#: ingest runs as fast as with rounds of three batches while peaking some 25 MB lower.
GROUP_ROWS = 25_000

#: A direct scan of a backup file has no reader thread beside it, so DuckDB takes both
#: cores. It compresses the wide text columns while it inserts; with 128MB it spills and
#: runs about half as fast, while 320MB keeps a 1M-row restore under 500 MB of RSS.
SCAN_THREADS = 2
SCAN_MEMORY_LIMIT = "320MB"

#: DuckDB's errors that are the warehouse's own, not the scanned file's. Everything else
#: raised during a direct scan (a decoding failure can be a bare ``duckdb.Error``; a NULL
#: where a record needs a value breaks a NOT NULL constraint) says the scan could not take
#: the file as it is, and the batch reader gets to say why, or to read it after all.
_WAREHOUSE_ERRORS = (
    duckdb.OutOfMemoryException,
    duckdb.TransactionException,
    duckdb.CatalogException,
    duckdb.InterruptException,
    duckdb.FatalException,
    duckdb.InternalException,
)

#: What a scanned file's key range holds once its rows are in: ``$1``..``$6`` as in
#: ``_STORED_IN_RANGE``. The range held no stored row before, so a file that kept its
#: promises has all its rows there, each key once.
_SCANNED_KEYS = """
SELECT count(*), count(DISTINCT (chat_id, message_id)) FROM messages
WHERE chat_id BETWEEN $1 AND $2 AND message_id BETWEEN $5 AND $6
  AND (chat_id, message_id) >= ($1, $3) AND (chat_id, message_id) <= ($2, $4)
"""

_ANY_MESSAGE_ID = (-(1 << 63), (1 << 63) - 1)

_STORED_COLUMNS = (*RECORD_COLUMNS, "sender_key", "ingested_dump", "updated_at")

# $1 = this ingest's timestamp, $2 = dump id, $3/$4 = the batch's message id range (lets
# zone maps skip most of ``messages``). Only keys and sender fields are materialized; the
# apply statements read the full rows from the batch again by position (_seq). A stored
# row carrying $1 and $2 was written by an earlier batch of this same ingest: a tie then
# goes to the later occurrence ("dup").
_CLASSIFY = f"""
CREATE OR REPLACE TEMP TABLE _tg_cls AS
WITH s AS (
    SELECT b._seq, b.chat_id, b.message_id, b.sent_at, b.sender_id, b.sender_name,
           {sender_key_sql("b.")} AS sender_key,
           {edit_rank_sql("b.")} AS _e,
           {quality_sql("b.")} AS _q,
           count(*) OVER (PARTITION BY b.chat_id, b.message_id) AS _n
    FROM {_BATCH_VIEW} b
    QUALIFY row_number() OVER (
        PARTITION BY b.chat_id, b.message_id ORDER BY _e DESC, _q DESC, b._seq DESC) = 1
), m AS (
    SELECT chat_id, message_id, sender_key, sender_id, sender_name, updated_at,
           ingested_dump, {edit_rank_sql()} AS _e, {quality_sql()} AS _q
    FROM messages WHERE message_id BETWEEN $3 AND $4
), c AS (
    SELECT s.* EXCLUDE (_e, _q), m.sender_key AS _old_key, m.sender_name AS _old_name,
        -- occurrences of the key in this dump before this one: earlier in the round, and
        -- the row an earlier round of this ingest wrote
        _n - 1 + CASE WHEN m.updated_at = $1 AND m.ingested_dump = $2 THEN 1 ELSE 0 END
            AS _repeats,
        CASE
            WHEN m.message_id IS NULL THEN 'new'
            WHEN m.updated_at = $1 AND m.ingested_dump = $2
                 AND (s._e, s._q) >= (m._e, m._q) THEN 'dup'
            WHEN (s._e, s._q) > (m._e, m._q) THEN 'updated'
            WHEN s.sender_id IS NULL AND s.sender_name IS NOT NULL AND m.sender_id IS NOT NULL
                 AND s.sender_name IS DISTINCT FROM m.sender_name THEN 'alias'
            ELSE 'unchanged'
        END AS _op
    FROM s LEFT JOIN m ON m.chat_id = s.chat_id AND m.message_id = s.message_id
)
SELECT * FROM c WHERE _op <> 'unchanged' OR _repeats > 0
"""

# Where a key this round repeats was met before in the dump: in the round itself (its
# earlier occurrences) or in a row an earlier round of this ingest wrote ($1, $2).
_REPEATED_AT = f"""
SELECT source_file, source_position FROM (
    SELECT source_file, source_position, _seq AS _at FROM {_BATCH_VIEW}
    WHERE chat_id = $3 AND message_id = $4
    UNION ALL
    SELECT source_file, source_position, -1 FROM messages
    WHERE chat_id = $3 AND message_id = $4 AND updated_at = $1 AND ingested_dump = $2
) ORDER BY _at
"""

#: Repeated keys described one by one in the result; the rest are only counted.
REPEATS_SHOWN = 3

_UPDATE = (
    "UPDATE messages SET "
    + ", ".join(f"{c} = b.{c}" for c in RECORD_COLUMNS if c not in ("chat_id", "message_id"))
    + ", sender_key = c.sender_key, ingested_dump = $2, updated_at = $1 "
    f"FROM _tg_cls c JOIN {_BATCH_VIEW} b ON b._seq = c._seq "
    "WHERE c._op IN ('updated', 'dup') "
    "AND messages.chat_id = c.chat_id AND messages.message_id = c.message_id"
)

_INSERT = (
    f"INSERT INTO messages ({', '.join(_STORED_COLUMNS)}) "
    f"SELECT {', '.join('b.' + c for c in RECORD_COLUMNS)}, c.sender_key, $2, $1 "
    f"FROM {_BATCH_VIEW} b JOIN _tg_cls c ON b._seq = c._seq AND c._op = 'new'"
)

# The common case of a first load: every row of the batch is new and its keys distinct,
# so the rows go in straight from the batch, without joining the classification back.
_INSERT_ALL = (
    f"INSERT INTO messages ({', '.join(_STORED_COLUMNS)}) "
    f"SELECT {', '.join('b.' + c for c in RECORD_COLUMNS)}, {sender_key_sql('b.')}, $2, $1 "
    f"FROM {_BATCH_VIEW} b"
)

# Names seen per sender key, with the instants of the messages that carried them. An HTML
# row replaced by the JSON row of the same message hands its name to the real sender
# (a rename between exports), and so does an HTML row that loses to a stored JSON row.
_NAMES = """
INSERT INTO _tg_names
SELECT sender_key, any_value(sender_id), name, min(sent_at), max(sent_at) FROM (
    SELECT sender_key, sender_id, sender_name AS name, sent_at FROM _tg_cls
    WHERE _op IN ('new', 'updated', 'dup') AND sender_key IS NOT NULL
    UNION ALL
    SELECT sender_key, sender_id, _old_name, sent_at FROM _tg_cls
    WHERE _op IN ('updated', 'dup') AND sender_id IS NOT NULL
      AND _old_key LIKE 'name:%' AND _old_name IS NOT NULL
    UNION ALL
    SELECT _old_key, NULL, sender_name, sent_at FROM _tg_cls WHERE _op = 'alias'
) GROUP BY sender_key, name
"""

# The same names when every row of the round is new and its keys distinct (see
# Upsert._all_new): straight from the batch, without a classification to read them from.
_NAMES_ALL_NEW = f"""
INSERT INTO _tg_names
SELECT sender_key, any_value(sender_id), sender_name, min(sent_at), max(sent_at) FROM (
    SELECT {sender_key_sql("b.")} AS sender_key, b.sender_id, b.sender_name, b.sent_at
    FROM {_BATCH_VIEW} b
) WHERE sender_key IS NOT NULL GROUP BY sender_key, sender_name
"""

# Whether any stored row could share a key with a round whose keys run strictly upwards
# from ($1, $3) to ($2, $4): such a row lies between them in key order, and its message id
# within the round's ($5, $6).
_STORED_IN_RANGE = """
SELECT count(*) FROM messages
WHERE chat_id BETWEEN $1 AND $2 AND message_id BETWEEN $5 AND $6
  AND (chat_id, message_id) >= ($1, $3) AND (chat_id, message_id) <= ($2, $4)
"""

_ORPHANS = """
INSERT INTO _tg_orphans
SELECT DISTINCT _old_key FROM _tg_cls
WHERE _op IN ('updated', 'dup') AND _old_key LIKE 'name:%' AND _old_key <> sender_key
"""

_BATCH_CHATS = f"""
SELECT chat_id, arg_max(chat_name, sent_at),
       arg_max(chat_type, sent_at) FILTER (chat_type IS NOT NULL), max(sent_at)
FROM {_BATCH_VIEW} GROUP BY chat_id
"""

_BATCH_SENDERS = (
    f"SELECT DISTINCT k FROM (SELECT {sender_key_sql()} AS k FROM {_BATCH_VIEW}) "
    "WHERE k IS NOT NULL"
)


def _rank_pair(p: str) -> str:
    return f"({edit_rank_sql(p)}, {quality_sql(p)})"


@dataclass
class _ChatSeen:
    name: str | None
    type: str | None
    latest: datetime | None


@dataclass
class _Tally:
    new: int = 0
    updated: int = 0
    rows: int = 0
    repeated: int = 0
    repeats_shown: list[str] = field(default_factory=list)
    chats: dict[int, _ChatSeen] = field(default_factory=dict)
    senders: set[str] = field(default_factory=set)


class ChatResolver:
    """Gives every record a chat id, and folds a surrogate chat into its real one.

    HTML records carry no chat id. They take, in order: the id the caller gave; the one
    known non-surrogate chat with exactly that name; otherwise a surrogate id derived from
    the name (so the same HTML chat always lands in the same place). When two real chats
    share the name, the HTML dump is not guessed into either: it stays on its surrogate
    until the caller names the chat.

    When a real chat id shows up (a JSON export, or a caller-given id) and a surrogate chat
    of the same name exists, and that name now belongs to exactly one real chat, the
    surrogate's messages are moved to the real id in the same transaction, so the HTML and
    the JSON export of one chat end as one chat in either order.
    """

    def __init__(
        self, con: duckdb.DuckDBPyConnection, dump_id: str, now: datetime, chat_id: int | None
    ) -> None:
        self._con = con
        self._dump_id = dump_id
        self._now = now
        self.given = chat_id
        self._by_name: dict[str | None, int] = {}
        self._seen: set[int] = set()
        self.rekeyed: dict[int, int] = {}

    def fill(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The batch with every chat id resolved.

        Rows without a chat id are resolved as above. Rows already on a surrogate id (from
        a backup) go through the same name lookup, so an old backup restored after its
        chat was re-keyed lands on the real chat instead of bringing the surrogate back.
        """
        ids = batch.column("chat_id")
        on_surrogate = pc.fill_null(pc.less_equal(ids, SURROGATE_CEILING), False)
        missing = pc.is_null(ids)
        if not ids.null_count and not pc.any(on_surrogate).as_py():
            return batch
        filled = ids
        by_name = on_surrogate
        if self.given is not None:
            filled = pc.fill_null(ids, pa.scalar(self.given, pa.int64()))
        else:
            by_name = pc.or_(missing, on_surrogate)
        names_col = batch.column("chat_name")
        names = pc.unique(pc.filter(names_col, by_name)).to_pylist()
        if names:
            keys = pa.array(names, pa.string())
            values = pa.array([self._for_name(n) for n in names], pa.int64())
            index = pc.index_in(names_col, value_set=keys, skip_nulls=False)
            filled = pc.if_else(by_name, pc.take(values, index), filled)
        return batch.set_column(batch.schema.get_field_index("chat_id"), "chat_id", filled)

    def _for_name(self, name: str | None) -> int:
        if name in self._by_name:
            return self._by_name[name]
        rows = self._con.execute(
            "SELECT chat_id FROM chats WHERE name = ? AND NOT is_surrogate", [name]
        ).fetchall()
        chat_id = rows[0][0] if len(rows) == 1 else surrogate_chat_id(name)
        self._by_name[name] = chat_id
        return chat_id

    def first_sight(
        self, chat_id: int, name: str | None, chat_type: str | None, latest: datetime | None
    ) -> None:
        """Register a chat the first time this ingest meets it, before its rows land."""
        if chat_id in self._seen:
            return
        self._seen.add(chat_id)
        surrogate = is_surrogate_chat_id(chat_id)
        self._con.execute(
            "INSERT INTO chats (chat_id, name, type, is_surrogate, first_seen_dump, "
            "name_seen_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [chat_id, name, chat_type, surrogate, self._dump_id, latest, self._now],
        )
        if surrogate or name is None:
            return
        source = surrogate_chat_id(name)
        found = self._con.execute(
            "SELECT (SELECT count(*) FROM chats WHERE chat_id = ?), "
            "(SELECT count(*) FROM chats WHERE name = ? AND NOT is_surrogate)",
            [source, name],
        ).fetchall()[0]
        if found and found[0] == 1 and found[1] == 1:
            rekey_chat(self._con, source, chat_id, self._dump_id)
            self.rekeyed[source] = chat_id


def rekey_chat(con: duckdb.DuckDBPyConnection, source: int, target: int, dump_id: str) -> None:
    """Move every message of chat ``source`` to ``target``; on a shared message id the
    better version stays (the same rule as the upsert, ties to the row already there).
    A target first seen in this dump (``dump_id``) inherits the source's first dump."""
    con.execute(
        f"""
        DELETE FROM messages WHERE chat_id = $1 AND message_id IN (
            SELECT s.message_id FROM messages s JOIN messages t
              ON t.chat_id = $2 AND t.message_id = s.message_id
            WHERE s.chat_id = $1 AND NOT ({_rank_pair("s.")} > {_rank_pair("t.")}))
        """,
        [source, target],
    )
    con.execute(
        "DELETE FROM messages WHERE chat_id = $2 AND message_id IN "
        "(SELECT message_id FROM messages WHERE chat_id = $1)",
        [source, target],
    )
    others = ", ".join(c for c in _STORED_COLUMNS if c != "chat_id")
    con.execute(
        f"INSERT INTO messages (chat_id, {others}) "
        f"SELECT $2, {others} FROM messages WHERE chat_id = $1",
        [source, target],
    )
    con.execute("DELETE FROM messages WHERE chat_id = ?", [source])
    con.execute(
        "UPDATE chats SET first_seen_dump = s.first_seen_dump FROM chats s "
        "WHERE chats.chat_id = $2 AND s.chat_id = $1 AND chats.first_seen_dump = $3",
        [source, target, dump_id],
    )
    con.execute(
        "INSERT INTO chat_dumps SELECT $2, dump_id FROM chat_dumps WHERE chat_id = $1 "
        "ON CONFLICT DO NOTHING",
        [source, target],
    )
    con.execute("DELETE FROM chat_dumps WHERE chat_id = ?", [source])
    con.execute("DELETE FROM chats WHERE chat_id = ?", [source])


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
        self._con = con
        self._dump = dump
        self._now = datetime.now(UTC)
        self._chats = ChatResolver(con, dump.dump_id, self._now, chat_id)
        self._tally = _Tally()

    def _start(self) -> None:
        self._con.execute(
            "CREATE OR REPLACE TEMP TABLE _tg_names (sender_key VARCHAR, sender_id VARCHAR, "
            "name VARCHAR, first_seen TIMESTAMPTZ, last_seen TIMESTAMPTZ)"
        )
        self._con.execute("CREATE OR REPLACE TEMP TABLE _tg_orphans (sender_key VARCHAR)")

    def run(self, batches: Iterable[pa.RecordBatch]) -> IngestResult:
        self._start()
        group: list[pa.RecordBatch] = []
        size = 0
        for batch in batches:
            if not batch.num_rows:
                continue
            group.append(self._chats.fill(_conform(batch)))
            size += batch.num_rows
            if size >= GROUP_ROWS:
                self._apply(group)
                group, size = [], 0
                # Hand the round's Arrow memory back: the allocator would keep it for the
                # next round, on top of what DuckDB holds for the insert.
                pa.default_memory_pool().release_unused()
        if group:
            self._apply(group)
        return self._result()

    def _result(self) -> IngestResult:
        self._finish()
        t = self._tally
        return IngestResult(
            new=t.new,
            updated=t.updated,
            unchanged=t.rows - t.new - t.updated - t.repeated,
            rows=t.rows,
            duplicates=t.repeated,
            duplicates_shown=tuple(t.repeats_shown),
            chats=sorted(t.chats),
            senders=sorted(t.senders),
            rekeyed=dict(self._chats.rekeyed),
        )

    def _apply(self, group: list[pa.RecordBatch]) -> None:
        con, tally = self._con, self._tally
        batch = pa.Table.from_batches(group)
        offsets = [0]
        for part in group:
            offsets.append(offsets[-1] + part.num_rows)
        seq = pa.chunked_array(
            [pa.array(range(a, b), pa.int64()) for a, b in itertools.pairwise(offsets)]
        )
        # The SQL below reads this local through DuckDB's replacement scan. Registering a
        # view per batch instead would keep every batch alive until COMMIT, because a
        # dropped view stays in the transaction's catalog.
        _tg_batch = batch.append_column("_seq", seq)
        params = [self._now, self._dump.dump_id]
        span = pc.min_max(batch.column("message_id"))
        low, high = span["min"], span["max"]
        # Chats first: seeing one may move a surrogate chat's stored rows under its real
        # id, into this round's key range.
        self._see_chats(_tg_batch)
        if self._all_new(batch, low.as_py(), high.as_py()):
            self._insert_all_new(_tg_batch, batch.num_rows)
            return
        tally.senders.update(k for (k,) in con.execute(_BATCH_SENDERS).fetchall())
        con.execute(_CLASSIFY, [*params, low.as_py(), high.as_py()])
        ops: dict[str, int] = {}
        repeated = 0
        for op, count, repeats in con.execute(
            "SELECT _op, count(*), sum(_repeats) FROM _tg_cls GROUP BY _op"
        ).fetchall():
            ops[op] = count
            repeated += int(repeats or 0)
        if repeated:
            self._note_repeats(repeated, params, _tg_batch)
        tally.rows += batch.num_rows
        tally.new += ops.get("new", 0)
        tally.updated += ops.get("updated", 0)
        if ops.get("updated") or ops.get("dup"):
            con.execute(_UPDATE, params)
            con.execute(_ORPHANS)
        if ops.get("new") == batch.num_rows:
            con.execute(_INSERT_ALL, params)
        elif ops.get("new"):
            con.execute(_INSERT, params)
        if ops:
            con.execute(_NAMES)

    def _note_repeats(self, repeated: int, params: list[object], _tg_batch: pa.Table) -> None:
        """Count the round's repeated keys and describe the first few, with the places
        the dump holds each one; SQL reads the round's batch as ``_tg_batch``."""
        tally = self._tally
        tally.repeated += repeated
        wanted = REPEATS_SHOWN - len(tally.repeats_shown)
        if wanted <= 0:
            return
        keys = self._con.execute(
            f"SELECT chat_id, message_id FROM _tg_cls WHERE _repeats > 0 "
            f"ORDER BY _seq LIMIT {wanted}"
        ).fetchall()
        for chat_id, message_id in keys:
            places = self._con.execute(_REPEATED_AT, [*params, chat_id, message_id]).fetchall()
            where = " and ".join(_place(file, position) for file, position in places)
            tally.repeats_shown.append(
                f"message {message_id} of chat {chat_id} {len(places)} times: {where}"
            )

    def _see_chats(self, _tg_batch: pa.Table | None) -> None:
        """Register the round's chats, before its rows land.

        ``_tg_batch`` is the round's Arrow table, which the SQL reads by that name (see
        :meth:`_apply`); None when a view of that name stands for the round.
        """
        con, tally = self._con, self._tally
        for chat_id, name, chat_type, latest in con.execute(_BATCH_CHATS).fetchall():
            self._chats.first_sight(chat_id, name, chat_type, latest)
            seen = tally.chats.get(chat_id)
            if seen is None or (
                latest is not None and (seen.latest is None or latest >= seen.latest)
            ):
                tally.chats[chat_id] = _ChatSeen(
                    name, chat_type or (seen.type if seen else None), latest
                )

    def _insert_all_new(self, _tg_batch: pa.Table | None, rows: int) -> None:
        params = [self._now, self._dump.dump_id]
        self._con.execute(_INSERT_ALL, params)
        self._name_all_new(_tg_batch)
        self._tally.rows += rows
        self._tally.new += rows

    def _name_all_new(self, _tg_batch: pa.Table | None) -> None:
        """Record the names of a round inserted whole, and note its senders: every sender
        key of such a round gets a names row, so those rows list them, and the round's keys
        need no second pass."""
        named = self._con.execute(_NAMES_ALL_NEW + " RETURNING sender_key").fetchall()
        self._tally.senders.update(k for (k,) in named)

    def scannable(self, scan: BackupScan) -> bool:
        """Whether the file may be all new, so it can go in with one scan, unclassified.

        Its chat ids must need no resolving (none a surrogate) and no stored row may lie in
        its key range: a restore into an empty table, or into chats it does not overlap.
        :meth:`run_scan` checks the rest on the rows it inserted. Anything else is
        classified round by round from batches, like every other dump.
        """
        if is_surrogate_chat_id(scan.first_key[0]):
            return False
        stored = self._con.execute(_STORED_IN_RANGE, _scan_range(scan)).fetchall()[0][0]
        return stored == 0

    def run_scan(self, scan: BackupScan) -> IngestResult | None:
        """The whole file in one INSERT that DuckDB reads from the file itself.

        None when the inserted rows break what :meth:`scannable` took the file's word for:
        a count other than the file promised, a key twice or outside the promised range, or
        a chat that would take over a surrogate chat's messages (see
        :meth:`ChatResolver.first_sight`). The caller then rolls back and reads batches.
        The round's chats and senders are read from the inserted rows, not the file again.
        """
        con = self._con
        self._start()
        source, ahead = scan.relation, None
        if not isinstance(source, str):
            # The stream is parsed on a helper thread ahead of DuckDB's, which read it
            # through the replacement scan of this local, as a round's batches (see _apply).
            ahead = Prefetch(source)
            _tg_scanned = pa.RecordBatchReader.from_batches(source.schema, iter(ahead))
            source = "_tg_scanned"
        columns = ", ".join(RECORD_COLUMNS)
        # On an error or a broken promise the caller's ROLLBACK takes the view away too.
        con.execute(f"CREATE OR REPLACE TEMP VIEW {_BATCH_VIEW} AS SELECT {columns} FROM {source}")
        try:
            rows = con.execute(_INSERT_ALL, [self._now, self._dump.dump_id]).fetchall()[0][0]
        finally:
            if ahead is not None:
                ahead.close()
        if scan.rows is not None and rows != scan.rows:
            return None
        span = _scan_range(scan)
        stored, distinct = con.execute(_SCANNED_KEYS, span).fetchall()[0]
        if not stored == distinct == rows:
            return None
        c0, c1, m0, m1, low, high = span
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {_BATCH_VIEW} AS SELECT * FROM messages "
            f"WHERE chat_id BETWEEN {c0} AND {c1} AND message_id BETWEEN {low} AND {high} "
            f"AND (chat_id, message_id) >= ({c0}, {m0}) AND (chat_id, message_id) <= ({c1}, {m1})"
        )
        if self._takes_over_a_surrogate():
            return None
        self._see_chats(None)
        self._name_all_new(None)
        self._tally.rows += rows
        self._tally.new += rows
        con.execute(f"DROP VIEW {_BATCH_VIEW}")
        return self._result()

    def _takes_over_a_surrogate(self) -> bool:
        """Whether a chat of the round shares its name with a stored surrogate chat, whose
        messages would move into it on first sight and then meet the round's by key."""
        if not self._con.execute("SELECT count(*) FROM chats WHERE is_surrogate").fetchall()[0][0]:
            return False
        names = self._con.execute(f"SELECT DISTINCT chat_name FROM {_BATCH_VIEW}").fetchall()
        surrogates = [surrogate_chat_id(name) for (name,) in names if name is not None]
        if not surrogates:
            return False
        found = self._con.execute(
            "SELECT count(*) FROM chats WHERE list_contains(?, chat_id)", [surrogates]
        ).fetchall()[0][0]
        return found > 0

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
        row = self._con.execute(
            _STORED_IN_RANGE, [first[0], last[0], first[1], last[1], low, high]
        ).fetchall()
        return bool(row) and row[0][0] == 0

    def _finish(self) -> None:
        con, tally, now = self._con, self._tally, self._now
        dump_id = self._dump.dump_id
        if tally.chats:
            info = pa.table(
                {
                    "chat_id": pa.array(list(tally.chats), pa.int64()),
                    "name": pa.array([c.name for c in tally.chats.values()], pa.string()),
                    "type": pa.array([c.type for c in tally.chats.values()], pa.string()),
                    "latest": pa.array(
                        [c.latest for c in tally.chats.values()], pa.timestamp("us", tz="UTC")
                    ),
                }
            )
            # Read by the SQL below through a replacement scan (see _apply).
            _tg_chatinfo = info.filter(
                pc.invert(
                    pc.is_in(info["chat_id"], pa.array(list(self._chats.rekeyed), pa.int64()))
                )
            )
            con.execute(
                """
                UPDATE chats SET name = i.name, type = coalesce(i.type, chats.type),
                    name_seen_at = i.latest, updated_at = $1
                FROM _tg_chatinfo i
                WHERE chats.chat_id = i.chat_id
                  AND (chats.name_seen_at IS NULL OR i.latest >= chats.name_seen_at)
                  AND (chats.name IS DISTINCT FROM i.name
                       OR chats.type IS DISTINCT FROM coalesce(i.type, chats.type))
                """,
                [now],
            )
            con.execute(
                "INSERT INTO chat_dumps SELECT chat_id, $1 FROM _tg_chatinfo "
                "ON CONFLICT DO NOTHING",
                [dump_id],
            )
        self._merge_senders()
        t = tally
        con.execute(
            """
            INSERT INTO dumps (dump_id, fingerprint, kind, source, files, status, error,
                               row_count, new_count, updated_count, unchanged_count, ingested_at,
                               delete_generation, chat_id_given, senders)
            VALUES ($1, $2, $3, $4, $5, 'ingested', NULL, $6, $7, $8, $9, $10,
                    (SELECT value FROM warehouse_state WHERE key = 'delete_generation'),
                    $11, $12)
            ON CONFLICT (dump_id) DO UPDATE SET
                fingerprint = excluded.fingerprint, kind = excluded.kind,
                source = excluded.source, files = excluded.files, status = 'ingested',
                error = NULL, row_count = excluded.row_count, new_count = excluded.new_count,
                updated_count = excluded.updated_count,
                unchanged_count = excluded.unchanged_count, ingested_at = excluded.ingested_at,
                delete_generation = excluded.delete_generation,
                chat_id_given = excluded.chat_id_given, senders = excluded.senders
            WHERE dumps.status <> 'ingested' OR excluded.new_count + excluded.updated_count > 0
            """,
            [
                dump_id,
                self._dump.fingerprint,
                self._dump.kind,
                self._dump.source,
                orjson.dumps([str(f) for f in self._dump.files]).decode(),
                t.rows,
                t.new,
                t.updated,
                t.rows - t.new - t.updated,
                now,
                self._chats.given,
                orjson.dumps(sorted(t.senders)).decode(),
            ],
        )
        # A full re-read that changed nothing keeps the row as it was, but the dump is now
        # known to be applied at the current generation.
        con.execute(
            """
            UPDATE dumps SET delete_generation = s.value
            FROM warehouse_state s
            WHERE s.key = 'delete_generation' AND dumps.dump_id = $1
              AND dumps.fingerprint = $2 AND dumps.status = 'ingested'
              AND dumps.chat_id_given IS NOT DISTINCT FROM $3
              AND dumps.delete_generation IS DISTINCT FROM s.value
            """,
            [dump_id, self._dump.fingerprint, self._chats.given],
        )
        con.execute("DROP TABLE IF EXISTS _tg_cls")
        con.execute("DROP TABLE IF EXISTS _tg_names")
        con.execute("DROP TABLE IF EXISTS _tg_orphans")

    def _merge_senders(self) -> None:
        con, now = self._con, self._now
        if not con.execute("SELECT count(*) FROM _tg_names").fetchall()[0][0]:
            return
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE _tg_names_agg AS
            SELECT sender_key, name, any_value(sender_id) AS sender_id,
                   min(first_seen) AS first_seen, max(last_seen) AS last_seen
            FROM _tg_names GROUP BY sender_key, name
            """
        )
        con.execute(
            """
            INSERT INTO sender_names
            SELECT sender_key, name, first_seen, last_seen FROM _tg_names_agg
            WHERE name IS NOT NULL
            ON CONFLICT (sender_key, name) DO UPDATE SET
                first_seen = least(sender_names.first_seen, excluded.first_seen),
                last_seen = greatest(sender_names.last_seen, excluded.last_seen)
            WHERE excluded.first_seen < sender_names.first_seen
               OR excluded.last_seen > sender_names.last_seen
            """
        )
        con.execute(
            """
            INSERT INTO senders
            WITH k AS (
                SELECT sender_key, any_value(sender_id) AS sender_id,
                       min(first_seen) AS first_seen, max(last_seen) AS last_seen
                FROM _tg_names_agg GROUP BY sender_key
            ), cur AS (
                SELECT sender_key, arg_max(sender_name, (sent_at, message_id)) AS name
                FROM messages WHERE sender_key IN (SELECT sender_key FROM k)
                GROUP BY sender_key
            )
            SELECT k.sender_key, k.sender_id, cur.name, k.first_seen, k.last_seen, $1
            FROM k LEFT JOIN cur USING (sender_key)
            ON CONFLICT (sender_key) DO UPDATE SET
                sender_id = coalesce(excluded.sender_id, senders.sender_id),
                name = coalesce(excluded.name, senders.name),
                first_seen = least(senders.first_seen, excluded.first_seen),
                last_seen = greatest(senders.last_seen, excluded.last_seen),
                updated_at = excluded.updated_at
            WHERE senders.sender_id IS DISTINCT FROM coalesce(excluded.sender_id, senders.sender_id)
               OR senders.name IS DISTINCT FROM coalesce(excluded.name, senders.name)
               OR excluded.first_seen < senders.first_seen
               OR excluded.last_seen > senders.last_seen
            """,
            [now],
        )
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE _tg_gone AS
            SELECT DISTINCT sender_key FROM _tg_orphans
            WHERE sender_key NOT IN (
                SELECT sender_key FROM messages
                WHERE sender_key IN (SELECT sender_key FROM _tg_orphans))
            """
        )
        con.execute(
            "DELETE FROM sender_names WHERE sender_key IN (SELECT sender_key FROM _tg_gone)"
        )
        con.execute("DELETE FROM senders WHERE sender_key IN (SELECT sender_key FROM _tg_gone)")
        con.execute("DROP TABLE _tg_gone")
        con.execute("DROP TABLE _tg_names_agg")


def recognise(
    con: duckdb.DuckDBPyConnection, dump: DumpRecord, chat_id: int | None
) -> IngestResult | None:
    """The result of re-applying ``dump``, when that is known to change nothing.

    That holds for a dump with the same content (fingerprint) and the same caller-given
    chat id already ingested while nothing has been deleted since (same delete
    generation): every stored row is then at least as good as the dump's version of it.
    The chats come from ``chat_dumps`` and the senders from the dumps row, as the earlier
    ingest saw them.
    """
    row = con.execute(
        """
        SELECT d.dump_id, d.row_count, d.senders FROM dumps d JOIN warehouse_state s
          ON s.key = 'delete_generation' AND d.delete_generation = s.value
        WHERE d.fingerprint = $1 AND d.status = 'ingested'
          AND d.chat_id_given IS NOT DISTINCT FROM $2
        ORDER BY d.ingested_at DESC LIMIT 1
        """,
        [dump.fingerprint, chat_id],
    ).fetchall()
    if not row:
        return None
    dump_id, rows, senders = row[0]
    chats = con.execute(
        "SELECT chat_id FROM chat_dumps WHERE dump_id = ? ORDER BY chat_id", [dump_id]
    ).fetchall()
    rows = int(rows or 0)
    return IngestResult(
        new=0,
        updated=0,
        unchanged=rows,
        rows=rows,
        chats=[c for (c,) in chats],
        senders=list(orjson.loads(senders)) if senders else [],
    )


def ingest(
    con: duckdb.DuckDBPyConnection,
    batches: Iterable[pa.RecordBatch],
    *,
    dump: DumpRecord,
    chat_id: int | None = None,
    prefetch: bool = True,
    recognise_unchanged: bool = True,
) -> IngestResult:
    """:func:`_ingest`, with DuckDB running out of memory said in one line naming the file."""
    try:
        return _ingest(
            con,
            batches,
            dump=dump,
            chat_id=chat_id,
            prefetch=prefetch,
            recognise_unchanged=recognise_unchanged,
        )
    except duckdb.OutOfMemoryException as exc:
        raise _out_of_memory(con, exc) from exc


def _ingest(
    con: duckdb.DuckDBPyConnection,
    batches: Iterable[pa.RecordBatch],
    *,
    dump: DumpRecord,
    chat_id: int | None = None,
    prefetch: bool = True,
    recognise_unchanged: bool = True,
) -> IngestResult:
    """Upsert one dump in one transaction; any exception (the reader's too) rolls it back.

    A dump already applied (see :func:`recognise`) is not read at all: ``batches`` is
    closed unconsumed, so a reader's worker pool shuts down. ``recognise_unchanged=False``
    reads and upserts it anyway (the result is the same; benchmarks use it to measure
    the upsert's own cost).

    DuckDB runs single-threaded meanwhile: it only splits an insert across threads beyond
    a row group (122,880 rows) per thread, and a round here is smaller (to bound memory),
    where a second thread measurably slows it down. The reader thread has the other core.

    A reader that offers a direct scan of its file (a Parquet or CSV backup; see
    :class:`~tg_pipeline.records.BackupScan`) and whose file is all new goes in with one
    INSERT that DuckDB reads from the file on :data:`SCAN_THREADS` threads, with no Python
    reader beside it. When DuckDB cannot read the file as it is, or the inserted rows show
    the file was not all new, the scan is rolled back and the batches are read instead:
    they restore the file, or raise the reader's DumpError naming the place.
    """
    if recognise_unchanged:
        known = recognise(con, dump, chat_id)
        if known is not None:
            close = getattr(batches, "close", None)
            if close is not None:
                close()
            return known
    threads, memory = con.execute(
        "SELECT current_setting('threads'), current_setting('memory_limit')"
    ).fetchall()[0]
    source: Prefetch | None = None
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            upsert = Upsert(con, dump, chat_id)
            scan = _offered_scan(batches)
            scanned: IngestResult | None = None
            if scan is not None and upsert.scannable(scan):
                con.execute(f"SET threads = {SCAN_THREADS}")
                con.execute(f"SET memory_limit = '{SCAN_MEMORY_LIMIT}'")
                try:
                    scanned = upsert.run_scan(scan)
                except _WAREHOUSE_ERRORS:
                    raise
                except duckdb.Error:
                    scanned = None
                if scanned is None:
                    # The batches, still unread, restore the file or raise its DumpError.
                    con.execute("ROLLBACK")
                    con.execute("BEGIN TRANSACTION")
                    con.execute(f"SET memory_limit = '{memory}'")
                    upsert = Upsert(con, dump, chat_id)
            if scanned is not None:
                result = scanned
            else:
                con.execute("SET threads = 1")
                source = Prefetch(batches) if prefetch else None
                result = upsert.run(source if source is not None else batches)
            if result.new or result.updated:
                mark_counts_stale(con)
            try:
                con.execute("COMMIT")
            except duckdb.TransactionException as exc:
                raise _commit_error(exc, memory) from exc
        except BaseException:
            # A failed COMMIT has already rolled back; its error is the one to report.
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            raise
    finally:
        try:
            if source is not None:
                source.close()
        finally:
            # After a fatal error (a full disk) DuckDB refuses every statement; that refusal
            # must not hide the error that caused it.
            with contextlib.suppress(duckdb.Error):
                con.execute(f"SET threads = {int(threads)}")
                con.execute(f"SET memory_limit = '{memory}'")
    return result


def _out_of_memory(
    con: duckdb.DuckDBPyConnection, exc: duckdb.OutOfMemoryException
) -> TgPipelineError:
    """Name the warehouse file and the knob: DuckDB's own message names neither."""
    path, memory = "the warehouse", "?"
    with contextlib.suppress(duckdb.Error):
        setting = con.execute("SELECT current_setting('memory_limit')").fetchone()
        if setting is not None:
            memory = str(setting[0])
        row = con.execute("SELECT path FROM duckdb_databases() WHERE NOT internal").fetchone()
        if row is not None:
            path = str(row[0])
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return TgPipelineError(
        f"{path}: DuckDB ran out of memory (limit {memory}); nothing of the dump was stored. "
        f"Raise TG_DUCKDB_MEMORY_LIMIT ({detail})"
    )


def _commit_error(exc: duckdb.TransactionException, memory: str) -> Exception:
    """DuckDB pins a transaction's large values in memory at COMMIT; say what to change."""
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "pin block" not in detail and "allocate" not in detail:
        return exc
    return TgPipelineError(
        f"the dump's large values do not fit DuckDB's memory limit ({memory}) at commit; "
        f"nothing was stored. Raise TG_DUCKDB_MEMORY_LIMIT for this dump ({detail})"
    )


def _offered_scan(batches: Iterable[pa.RecordBatch]) -> BackupScan | None:
    """The file behind ``batches`` when the reader offers DuckDB a direct scan of it."""
    offer = getattr(batches, "direct_scan", None)
    return offer() if offer is not None else None


def _scan_range(scan: BackupScan) -> list[int]:
    """The file's key range as the parameters of ``_STORED_IN_RANGE``."""
    low, high = scan.message_ids or _ANY_MESSAGE_ID
    return [scan.first_key[0], scan.last_key[0], scan.first_key[1], scan.last_key[1], low, high]


def record_dump_failure(con: duckdb.DuckDBPyConnection, dump: DumpRecord, error: str) -> None:
    """Remember a dump that could not be read, so status reports can say why."""
    con.execute(
        """
        INSERT INTO dumps (dump_id, fingerprint, kind, source, files, status, error,
                           row_count, new_count, updated_count, unchanged_count, ingested_at)
        VALUES ($1, $2, $3, $4, $5, 'quarantined', $6, 0, 0, 0, 0, $7)
        ON CONFLICT (dump_id) DO UPDATE SET status = 'quarantined', error = excluded.error,
            ingested_at = excluded.ingested_at
        """,
        [
            dump.dump_id,
            dump.fingerprint,
            dump.kind,
            dump.source,
            orjson.dumps([str(f) for f in dump.files]).decode(),
            error,
            datetime.now(UTC),
        ],
    )
