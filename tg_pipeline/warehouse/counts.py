"""Per-user message counts, recomputed from ``messages`` in one GROUP BY.

Recomputing instead of adjusting counters keeps the table provably equal to the messages
(the asset check runs the same GROUP BY). Only rows whose count, first/last time or name
differ from the stored ones are written and reported, so a run that changed nothing
emits no count events; a group that no longer has messages is reported with count 0 and
removed.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from tg_pipeline.warehouse.dialect import DUCKDB, Dialect, SqlCon
from tg_pipeline.warehouse.models import CountSnapshot, PendingCount

if TYPE_CHECKING:
    import duckdb

#: Key for messages with neither a sender id nor a name.
UNKNOWN_SENDER = "unknown"


def fresh_counts(dialect: Dialect = DUCKDB) -> str:
    """The counts as a GROUP BY over ``messages`` gives them now."""
    return f"""
SELECT chat_id, coalesce(sender_key, '{UNKNOWN_SENDER}') AS sender_key,
       {dialect.arg_max("sender_name", "sent_at", "message_id")} AS sender_name,
       count(*) AS message_count,
       min(sent_at) AS first_message_at, max(sent_at) AS last_message_at
FROM messages WHERE kind = 'message'
GROUP BY chat_id, coalesce(sender_key, '{UNKNOWN_SENDER}')
"""


FRESH_COUNTS = fresh_counts()

_CHANGES = """
WITH fresh AS ({fresh})
SELECT coalesce(f.chat_id, u.chat_id) AS chat_id,
       coalesce(f.sender_key, u.sender_key) AS sender_key,
       CASE WHEN f.chat_id IS NULL THEN u.sender_name ELSE f.sender_name END AS sender_name,
       coalesce(f.message_count, 0) AS message_count,
       coalesce(f.first_message_at, u.first_message_at) AS first_message_at,
       coalesce(f.last_message_at, u.last_message_at) AS last_message_at,
       f.chat_id IS NULL AS removed
FROM fresh f FULL OUTER JOIN user_message_counts u
  ON f.chat_id = u.chat_id AND f.sender_key = u.sender_key
WHERE u.chat_id IS NULL OR f.chat_id IS NULL
   OR f.message_count <> u.message_count
   OR f.first_message_at <> u.first_message_at
   OR f.last_message_at <> u.last_message_at
   OR f.sender_name IS DISTINCT FROM u.sender_name
"""


def _changed(dialect: Dialect) -> tuple[str, ...]:
    return dialect.temp_table_as("_tg_count_changes", _CHANGES.format(fresh=fresh_counts(dialect)))


#: ``warehouse_state`` row set in the transaction that changes messages and cleared in the
#: one that recomputes the counts: 1 after a crash between the two.
STALE_KEY = "counts_stale"


def mark_counts_stale(con: SqlCon, dialect: Dialect = DUCKDB) -> None:
    """Inside the caller's transaction: messages changed, the counts have not caught up."""
    con.execute(dialect.set_state(), [STALE_KEY, 1])


def counts_stale(con: SqlCon) -> bool:
    row = con.execute("SELECT value FROM warehouse_state WHERE key = ?", [STALE_KEY]).fetchone()
    return bool(row and row[0])


def refresh_counts_in_transaction(con: SqlCon, dialect: Dialect = DUCKDB) -> list[CountSnapshot]:
    """The work of :func:`refresh_counts`, inside a transaction the caller owns.

    Every change is also recorded in ``count_events_pending`` in the same transaction, so
    its count event cannot be lost between this commit and the outbox write.
    """
    for statement in _changed(dialect):
        con.execute(statement)
    rows = con.execute(
        "SELECT chat_id, sender_key, sender_name, message_count, first_message_at, "
        "last_message_at FROM _tg_count_changes ORDER BY chat_id, sender_key"
    ).fetchall()
    if rows:
        now = datetime.now(UTC)
        con.execute("UPDATE warehouse_state SET value = value + 1 WHERE key = 'count_version'")
        con.execute(
            "DELETE FROM count_events_pending p USING _tg_count_changes c "
            "WHERE p.chat_id = c.chat_id AND p.sender_key = c.sender_key"
        )
        con.execute(
            "INSERT INTO count_events_pending SELECT chat_id, sender_key, sender_name, "
            "message_count, first_message_at, last_message_at, "
            "(SELECT value FROM warehouse_state WHERE key = 'count_version'), $1 "
            "FROM _tg_count_changes",
            [now],
        )
        con.execute(
            "DELETE FROM user_message_counts u USING _tg_count_changes c "
            "WHERE u.chat_id = c.chat_id AND u.sender_key = c.sender_key"
        )
        con.execute(
            "INSERT INTO user_message_counts SELECT chat_id, sender_key, sender_name, "
            "message_count, first_message_at, last_message_at, $1 "
            "FROM _tg_count_changes WHERE NOT removed",
            [now],
        )
    con.execute("DROP TABLE _tg_count_changes")
    con.execute(dialect.set_state(), [STALE_KEY, 0])
    return [CountSnapshot(*row) for row in rows]


def refresh_counts(con: duckdb.DuckDBPyConnection) -> list[CountSnapshot]:
    """Bring ``user_message_counts`` up to date in one transaction; return what changed."""
    con.execute("BEGIN TRANSACTION")
    try:
        changed = refresh_counts_in_transaction(con)
        con.execute("COMMIT")
    except BaseException:
        # A failed COMMIT has rolled back already; its error is the one to report.
        with contextlib.suppress(Exception):
            con.execute("ROLLBACK")
        raise
    return changed


def counts_mismatch(con: SqlCon, dialect: Dialect = DUCKDB) -> int:
    """Rows of ``user_message_counts`` that differ from a fresh GROUP BY, both ways."""
    row = con.execute(
        f"""
        WITH fresh AS ({fresh_counts(dialect)}),
        stored AS (SELECT chat_id, sender_key, sender_name, message_count, first_message_at,
                          last_message_at FROM user_message_counts)
        SELECT (SELECT count(*) FROM (SELECT * FROM fresh EXCEPT ALL SELECT * FROM stored) a)
             + (SELECT count(*) FROM (SELECT * FROM stored EXCEPT ALL SELECT * FROM fresh) b)
        """
    ).fetchall()[0]
    return int(row[0]) if row else 0


def pending_count_events(con: SqlCon) -> list[PendingCount]:
    """Count changes whose events the outbox does not hold yet, oldest change first."""
    rows = con.execute(
        "SELECT chat_id, sender_key, sender_name, message_count, first_message_at, "
        "last_message_at, version, changed_at FROM count_events_pending "
        "ORDER BY version, chat_id, sender_key"
    ).fetchall()
    return [PendingCount(*row) for row in rows]


def count_events_queued(con: duckdb.DuckDBPyConnection, up_to_version: int) -> int:
    """Forget pending changes up to ``up_to_version``: the outbox holds their events now."""
    row = con.execute(
        "DELETE FROM count_events_pending WHERE version <= ?", [up_to_version]
    ).fetchall()
    return int(row[0][0]) if row else 0
