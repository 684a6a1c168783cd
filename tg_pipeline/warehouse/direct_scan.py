"""The fast path for a backup that is all new: one INSERT that DuckDB reads from the file.

A record source that offers a scan of its file (:class:`~tg_pipeline.records.ScannableRecords`)
and whose key range holds no stored row goes in with one statement across threads, with no
Python rounds. The file's promises (row count, key range) are checked on the inserted rows;
when they do not hold, the caller rolls back and reads the batches instead.
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb
import pyarrow as pa

from tg_pipeline.records import BackupScan, ScannableRecords
from tg_pipeline.warehouse.arrow_slot import registered
from tg_pipeline.warehouse.columns import RECORD_COLUMNS, is_surrogate_chat_id, surrogate_chat_id
from tg_pipeline.warehouse.models import IngestResult
from tg_pipeline.warehouse.prefetch import Prefetch
from tg_pipeline.warehouse.round_sql import BATCH_VIEW, INSERT_ALL, STORED_IN_RANGE
from tg_pipeline.warehouse.rounds import Upsert

#: A direct scan has no reader thread beside it, so DuckDB takes both cores. It compresses
#: the wide text columns while it inserts, which spills under the warehouse's default
#: memory limit; this one leaves it room within a restore's memory budget.
SCAN_THREADS = 2
SCAN_MEMORY_LIMIT = "320MB"

#: DuckDB's errors that are the warehouse's own, not the scanned file's. Everything else
#: raised during a direct scan (a decoding failure can be a bare ``duckdb.Error``; a NULL
#: where a record needs a value breaks a NOT NULL constraint) says the scan could not take
#: the file as it is, and the batch reader gets to say why, or to read it after all.
WAREHOUSE_ERRORS = (
    duckdb.OutOfMemoryException,
    duckdb.TransactionException,
    duckdb.CatalogException,
    duckdb.InterruptException,
    duckdb.FatalException,
    duckdb.InternalException,
)

#: The name a scanned Arrow stream is registered under for the INSERT's view.
_SCANNED = "_tg_scanned"

#: What a scanned file's key range holds once its rows are in: ``$1``..``$6`` as in
#: ``STORED_IN_RANGE``. The range held no stored row before, so a file that kept its
#: promises has all its rows there, each key once.
_SCANNED_KEYS = """
SELECT count(*), count(DISTINCT (chat_id, message_id)) FROM messages
WHERE chat_id BETWEEN $1 AND $2 AND message_id BETWEEN $5 AND $6
  AND (chat_id, message_id) >= ($1, $3) AND (chat_id, message_id) <= ($2, $4)
"""

_ANY_MESSAGE_ID = (-(1 << 63), (1 << 63) - 1)


def offered_scan(batches: Iterable[pa.RecordBatch]) -> BackupScan | None:
    """The file behind ``batches`` when the reader offers DuckDB a direct scan of it."""
    return batches.direct_scan() if isinstance(batches, ScannableRecords) else None


def _scan_range(scan: BackupScan) -> list[int]:
    """The file's key range as the parameters of ``STORED_IN_RANGE``."""
    low, high = scan.message_ids or _ANY_MESSAGE_ID
    return [scan.first_key[0], scan.last_key[0], scan.first_key[1], scan.last_key[1], low, high]


def scannable(con: duckdb.DuckDBPyConnection, scan: BackupScan) -> bool:
    """Whether the file may be all new, so it can go in with one scan, unclassified.

    Its chat ids must need no resolving (none a surrogate) and no stored row may lie in
    its key range: a restore into an empty table, or into chats it does not overlap.
    :func:`insert_scanned` checks the rest on the rows it inserted. Anything else is
    classified round by round from batches, like every other dump.
    """
    if is_surrogate_chat_id(scan.first_key[0]):
        return False
    stored = con.execute(STORED_IN_RANGE, _scan_range(scan)).fetchall()[0][0]
    return bool(stored == 0)


def insert_scanned(upsert: Upsert, scan: BackupScan) -> IngestResult | None:
    """The whole file in one INSERT that DuckDB reads from the file itself.

    None when the inserted rows break what :func:`scannable` took the file's word for:
    a count other than the file promised, a key twice or outside the promised range, or
    a chat that would take over a surrogate chat's messages (see
    :meth:`.ChatResolver.first_sight`). The caller then rolls back and reads batches.
    The round's chats and senders are read from the inserted rows, not the file again.
    """
    con = upsert.con
    upsert.start()
    rows = _insert(con, scan, upsert.params)
    if scan.rows is not None and rows != scan.rows:
        return None
    span = _scan_range(scan)
    stored, distinct = con.execute(_SCANNED_KEYS, span).fetchall()[0]
    if not stored == distinct == rows:
        return None
    c0, c1, m0, m1, low, high = span
    # On a broken promise the caller's ROLLBACK takes the view away.
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {BATCH_VIEW} AS SELECT * FROM messages "
        f"WHERE chat_id BETWEEN {c0} AND {c1} AND message_id BETWEEN {low} AND {high} "
        f"AND (chat_id, message_id) >= ({c0}, {m0}) AND (chat_id, message_id) <= ({c1}, {m1})"
    )
    if _takes_over_a_surrogate(con):
        return None
    upsert.see_chats()
    upsert.name_all_new()
    upsert.count_new(rows)
    con.execute(f"DROP VIEW {BATCH_VIEW}")
    return upsert.result()


def _insert(con: duckdb.DuckDBPyConnection, scan: BackupScan, params: list[object]) -> int:
    """Insert the file's rows through a view of them named :data:`BATCH_VIEW`."""
    columns = ", ".join(RECORD_COLUMNS)
    if isinstance(scan.relation, str):
        # On an error the caller's ROLLBACK takes the view away too.
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {BATCH_VIEW} AS SELECT {columns} FROM {scan.relation}"
        )
        return int(con.execute(INSERT_ALL, params).fetchall()[0][0])
    # The stream is parsed on a helper thread ahead of DuckDB's, which reads it as
    # registered, once.
    source = scan.relation
    with Prefetch(source) as ahead:
        stream = pa.RecordBatchReader.from_batches(source.schema, iter(ahead))
        with registered(con, _SCANNED, stream):
            con.execute(
                f"CREATE OR REPLACE TEMP VIEW {BATCH_VIEW} AS SELECT {columns} FROM {_SCANNED}"
            )
            return int(con.execute(INSERT_ALL, params).fetchall()[0][0])


def _takes_over_a_surrogate(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether a chat of the round shares its name with a stored surrogate chat, whose
    messages would move into it on first sight and then meet the round's by key."""
    if not con.execute("SELECT count(*) FROM chats WHERE is_surrogate").fetchall()[0][0]:
        return False
    names = con.execute(f"SELECT DISTINCT chat_name FROM {BATCH_VIEW}").fetchall()
    surrogates = [surrogate_chat_id(name) for (name,) in names if name is not None]
    if not surrogates:
        return False
    found = con.execute(
        "SELECT count(*) FROM chats WHERE list_contains(?, chat_id)", [surrogates]
    ).fetchall()[0][0]
    return bool(found > 0)
