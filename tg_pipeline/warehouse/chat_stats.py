"""``chat_stats``: per chat, how many messages and service entries ``messages`` holds and
when its first and last message was sent, kept exact by every writer of ``messages``
inside its own transaction.

``tg-pipeline chats`` reads it instead of aggregating ``messages``, so it answers in time
proportional to the number of chats. Each row equals :func:`fresh_chat_stats` for its
chat, and a chat without rows in ``messages`` has no row here.

How a writer keeps it depends on what a recompute of a chat's rows costs:

- DuckDB reads the two or three columns a recompute needs from its column store, so the
  DuckDB upsert recomputes every chat the dump touched, once, at the end
  (:func:`recompute`): cheaper than adding each round's rows as they go.
- PostgreSQL would read whole rows from the heap, just written, so its upsert
  (:class:`ChatStatsWriter`) adds what each round inserts instead (counts add up, first
  and last message times widen), from the staged round or from the Arrow rows of a round
  COPYed whole, and recomputes only the chats where a replaced row changes its kind or
  send time.

A surrogate chat moved under its real id and a delete recompute their chats on both.
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa
import pyarrow.compute as pc

from tg_pipeline.warehouse.arrow_slot import registered
from tg_pipeline.warehouse.dialect import POSTGRES, Dialect, SqlCon
from tg_pipeline.warehouse.round_sql import BATCH_VIEW

CREATE = """
CREATE TABLE chat_stats (
    chat_id BIGINT PRIMARY KEY,
    message_count BIGINT NOT NULL,
    service_count BIGINT NOT NULL,
    first_message_at TIMESTAMPTZ,
    last_message_at TIMESTAMPTZ
)
"""


def _aggregates(p: str = "") -> str:
    """The summary of a group of message rows (columns prefixed ``p``); the first and last
    times count messages only, as ``message_count`` does."""
    return (
        f"count(*) FILTER (WHERE {p}kind = 'message'), "
        f"count(*) FILTER (WHERE {p}kind <> 'message'), "
        f"min({p}sent_at) FILTER (WHERE {p}kind = 'message'), "
        f"max({p}sent_at) FILTER (WHERE {p}kind = 'message')"
    )


def fresh_chat_stats(where: str = "TRUE") -> str:
    """``chat_stats`` as a GROUP BY over the ``messages`` rows ``where`` selects gives it."""
    return f"SELECT chat_id, {_aggregates()} FROM messages WHERE {where} GROUP BY chat_id"


#: The migration's fill from the rows a warehouse already holds.
FILL = f"INSERT INTO chat_stats {fresh_chat_stats()}"

_COLUMNS = "chat_id, message_count, service_count, first_message_at, last_message_at"

_ADD = (
    " ON CONFLICT (chat_id) DO UPDATE SET "
    "message_count = chat_stats.message_count + excluded.message_count, "
    "service_count = chat_stats.service_count + excluded.service_count, "
    "first_message_at = least(chat_stats.first_message_at, excluded.first_message_at), "
    "last_message_at = greatest(chat_stats.last_message_at, excluded.last_message_at)"
)

_REPLACE = (
    " ON CONFLICT (chat_id) DO UPDATE SET "
    "message_count = excluded.message_count, service_count = excluded.service_count, "
    "first_message_at = excluded.first_message_at, last_message_at = excluded.last_message_at"
)


def _ids(chat_ids: Iterable[int]) -> str:
    return ", ".join(str(int(c)) for c in sorted(set(chat_ids)))


def recompute(con: SqlCon, chat_ids: Iterable[int]) -> None:
    """Recompute the rows of ``chat_ids`` from ``messages``, inside the caller's
    transaction; a chat left without messages loses its row."""
    ids = _ids(chat_ids)
    if not ids:
        return
    # An upsert in key order, not a delete and an insert: concurrent PostgreSQL writers
    # then lock the rows in one order, and DuckDB never meets a key inserted twice. The
    # order costs nothing on a few rows, so both backends take it.
    con.execute(
        f"INSERT INTO chat_stats ({_COLUMNS}) "
        f"{fresh_chat_stats(f'chat_id IN ({ids})')} ORDER BY chat_id{_REPLACE}"
    )
    con.execute(
        f"DELETE FROM chat_stats WHERE chat_id IN ({ids}) AND NOT EXISTS "
        "(SELECT 1 FROM messages m WHERE m.chat_id = chat_stats.chat_id)"
    )


def delete_where(con: SqlCon, where: str, params: list[object], dialect: Dialect) -> int:
    """Delete the ``messages`` rows ``where`` selects and recompute their chats' rows,
    inside the caller's transaction; how many rows went."""
    if dialect.postgres:
        # The chats come from the deleted rows themselves: a concurrent writer may add
        # matching rows between two statements.
        chats = con.execute(
            f"WITH d AS (DELETE FROM messages WHERE {where} RETURNING chat_id) "
            "SELECT chat_id, count(*) FROM d GROUP BY chat_id",
            params,
        ).fetchall()
        deleted = sum(int(n) for _, n in chats)
    else:
        # DuckDB has one writer: the rows the filter selects now are the ones it deletes.
        chats = con.execute(
            f"SELECT DISTINCT chat_id FROM messages WHERE {where}", params
        ).fetchall()
        row = con.execute(f"DELETE FROM messages WHERE {where}", params).fetchall()
        deleted = int(row[0][0]) if row else 0
    recompute(con, (c for c, *_ in chats))
    return deleted


# The rows the staged dump inserts: all of :data:`BATCH_VIEW`, or those the classification
# marks new.
_ALL_ROWS = f"FROM {BATCH_VIEW} b"
_NEW_ROWS = f"FROM {BATCH_VIEW} b JOIN _tg_cls c ON c._seq = b._seq AND c._op = 'new'"

# Chats where a stored row is about to be replaced by a version of another kind or send
# time: a row stored before the dump ("updated") or one an earlier round wrote ("dup").
_CHANGED_CHATS = f"""
SELECT DISTINCT c.chat_id
FROM _tg_cls c JOIN {BATCH_VIEW} b ON b._seq = c._seq
JOIN messages m ON m.chat_id = c.chat_id AND m.message_id = c.message_id
WHERE c._op IN ('updated', 'dup') AND (m.kind <> b.kind OR m.sent_at <> b.sent_at)
"""

#: The name :meth:`ChatStatsWriter.add` registers a round's summary under for its SQL.
_ROUND_STATS = "_tg_chat_add"


def _summary(rows: pa.Table) -> pa.Table:
    """:func:`_aggregates` per chat of Arrow ``rows``, in ``chat_stats``' columns."""
    is_message = pc.equal(rows["kind"], "message")
    no_time = pa.scalar(None, rows.schema.field("sent_at").type)
    parts = pa.table(
        {
            "chat_id": rows["chat_id"],
            "message": pc.cast(is_message, pa.int64()),
            "service": pc.cast(pc.invert(is_message), pa.int64()),
            "at": pc.if_else(is_message, rows["sent_at"], no_time),
        }
    )
    found = parts.group_by("chat_id").aggregate(
        [("message", "sum"), ("service", "sum"), ("at", "min"), ("at", "max")]
    )
    return pa.table(
        [
            found["chat_id"],
            found["message_sum"],
            found["service_sum"],
            found["at_min"],
            found["at_max"],
        ],
        names=_COLUMNS.split(", "),
    )


class ChatStatsWriter:
    """Keeps ``chat_stats`` exact through one PostgreSQL upsert transaction of rounds.

    For a round staged as :data:`BATCH_VIEW` and classified in ``_tg_cls``, call
    :meth:`apply` before its UPDATE; for a round COPYed into ``messages`` whole, call
    :meth:`add` with its rows. Call :meth:`finish` once every round is written.
    """

    def __init__(self, con: SqlCon) -> None:
        self._con = con
        self._changed: set[int] = set()

    def apply(self, ops: dict[str, int], rows: int) -> None:
        """Add the rows about to be inserted and note the chats whose replaced rows
        change; ``ops`` the classification's verdict counts, ``rows`` the staged rows."""
        new = ops.get("new", 0)
        if new:
            self._con.execute(
                f"INSERT INTO chat_stats ({_COLUMNS}) "
                f"SELECT b.chat_id, {_aggregates('b.')} "
                f"{_ALL_ROWS if new == rows else _NEW_ROWS} GROUP BY b.chat_id"
                f"{POSTGRES.lock_order('b.chat_id')}{_ADD}"
            )
        if ops.get("updated") or ops.get("dup"):
            changed = self._con.execute(_CHANGED_CHATS).fetchall()
            self._changed.update(c for (c,) in changed)

    def add(self, rows: pa.Table) -> None:
        """Add a round's ``rows``, every one of them just inserted."""
        with registered(self._con, _ROUND_STATS, _summary(rows)):
            self._con.execute(
                f"INSERT INTO chat_stats ({_COLUMNS}) SELECT {_COLUMNS} FROM {_ROUND_STATS}"
                f"{POSTGRES.lock_order('chat_id')}{_ADD}"
            )

    def finish(self) -> None:
        """Recompute the chats whose replaced rows changed kind or send time."""
        recompute(self._con, self._changed)
        self._changed.clear()
