"""The read and delete side used by the CLI: filters, listings, deletes.

Every filter value is a bound parameter, and text matching uses ``contains``/``lower``
(or ``regexp_matches``), never a LIKE pattern built from user input, so quotes, ``%``,
``_``, SQL and emoji in a chat name, sender name or search text match literally. (The old
service's delete ran ``WHERE 1=1``; here an empty filter is refused outright.)
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from tg_pipeline.errors import TgPipelineError
from tg_pipeline.records import MESSAGE_SCHEMA
from tg_pipeline.warehouse.columns import RECORD_COLUMNS
from tg_pipeline.warehouse.counts import refresh_counts_in_transaction
from tg_pipeline.warehouse.models import CountSnapshot


@dataclass(frozen=True)
class MessageFilter:
    """Which messages a query or delete means; all given conditions must hold.

    ``chat``: chat id, or chat name (case-insensitive, exact). ``sender``: sender id or
    key (``user123``, ``name:Alice``), or a current or former name (case-insensitive,
    exact). ``since`` ≤ ``sent_at`` < ``until``; naive datetimes are UTC. ``text``: a
    case-insensitive substring, or with ``regex`` a case-insensitive regular expression.
    ``kind``: ``message`` or ``service``.
    """

    chat: str | None = None
    sender: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = None
    regex: bool = False
    kind: str | None = None

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self) if f.name != "regex")


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def where_clause(f: MessageFilter) -> tuple[str, list[Any]]:
    """SQL condition over ``messages`` (unqualified columns) and its parameters."""
    parts: list[str] = []
    params: list[Any] = []
    if f.chat is not None:
        parts.append(
            "(chat_id = TRY_CAST(? AS BIGINT) OR lower(chat_name) = lower(?) "
            "OR chat_id IN (SELECT c.chat_id FROM chats c WHERE lower(c.name) = lower(?)))"
        )
        params += [f.chat.strip(), f.chat, f.chat]
    if f.sender is not None:
        parts.append(
            "(lower(sender_key) = lower(?) OR lower(sender_id) = lower(?) "
            "OR lower(sender_name) = lower(?) "
            "OR sender_key IN (SELECT n.sender_key FROM sender_names n "
            "WHERE lower(n.name) = lower(?)))"
        )
        params += [f.sender] * 4
    if f.since is not None:
        parts.append("sent_at >= ?")
        params.append(_utc(f.since))
    if f.until is not None:
        parts.append("sent_at < ?")
        params.append(_utc(f.until))
    if f.text is not None:
        if f.regex:
            parts.append("regexp_matches(text, ?, 'i')")
        else:
            parts.append("contains(lower(text), lower(?))")
        params.append(f.text)
    if f.kind is not None:
        parts.append("kind = ?")
        params.append(f.kind)
    return (" AND ".join(parts) if parts else "TRUE"), params


def settle(con: duckdb.DuckDBPyConnection) -> None:
    """Finish any result a caller left half-read (``execute(...).fetchone()``): DuckDB 2.0
    refuses relation queries (``con.sql``) until it is done, while ``execute`` simply
    replaces it."""
    con.execute("SELECT 1").fetchall()


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> pa.Table:
    settle(con)
    try:
        return con.sql(sql, params=params).to_arrow_table()
    except duckdb.InvalidInputException as exc:
        raise TgPipelineError(f"invalid filter: {str(exc).splitlines()[0]}") from exc


def messages(
    con: duckdb.DuckDBPyConnection,
    f: MessageFilter,
    *,
    limit: int | None,
    offset: int = 0,
    desc: bool = False,
) -> pa.Table:
    """Matching messages in time order: record columns plus ``sender_key``."""
    where, params = where_clause(f)
    order = " DESC" if desc else ""
    sql = (
        f"SELECT {', '.join(RECORD_COLUMNS)}, sender_key FROM messages WHERE {where} "
        f"ORDER BY sent_at{order}, chat_id{order}, message_id{order}"
    )
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    if offset:
        sql += " OFFSET ?"
        params.append(int(offset))
    table = _run(con, sql, params)
    schema = pa.schema(
        [*MESSAGE_SCHEMA, pa.field("sender_key", pa.string())], metadata=MESSAGE_SCHEMA.metadata
    )
    return pa.Table.from_arrays(
        [table.column(i).cast(field.type) for i, field in enumerate(schema)], schema=schema
    )


def count_matching(con: duckdb.DuckDBPyConnection, f: MessageFilter) -> int:
    """How many messages a filter selects, for a delete's dry run and confirmation."""
    where, params = where_clause(f)
    table = _run(con, f"SELECT count(*) AS n FROM messages WHERE {where}", params)
    return int(table.column(0)[0].as_py())


def _delete(
    con: duckdb.DuckDBPyConnection, where: str, params: list[Any]
) -> tuple[int, list[CountSnapshot]]:
    con.execute("BEGIN TRANSACTION")
    try:
        row = con.execute(f"DELETE FROM messages WHERE {where}", params).fetchall()[0]
        deleted = int(row[0]) if row else 0
        if deleted:
            # Dumps ingested before this point would bring the rows back: they must be
            # read again instead of being recognised as already applied.
            con.execute(
                "UPDATE warehouse_state SET value = value + 1 WHERE key = 'delete_generation'"
            )
        changed = refresh_counts_in_transaction(con)
        con.execute("COMMIT")
    except duckdb.InvalidInputException as exc:
        # A failed COMMIT has rolled back already; its error is the one to report.
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise TgPipelineError(f"invalid filter: {str(exc).splitlines()[0]}") from exc
    except BaseException:
        # A failed COMMIT has rolled back already; its error is the one to report.
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise
    return deleted, changed


def delete_messages(
    con: duckdb.DuckDBPyConnection, f: MessageFilter
) -> tuple[int, list[CountSnapshot]]:
    """Delete what the filter selects and recompute the counts, in one transaction."""
    if f.is_empty():
        raise TgPipelineError(
            "refusing to delete without a filter; give a filter or delete everything "
            "explicitly (delete_all / --all)"
        )
    where, params = where_clause(f)
    return _delete(con, where, params)


def delete_all(con: duckdb.DuckDBPyConnection) -> tuple[int, list[CountSnapshot]]:
    """Empty ``messages`` (chats, senders and dumps stay as history)."""
    return _delete(con, "TRUE", [])


def counts(con: duckdb.DuckDBPyConnection, chat: str | None = None) -> pa.Table:
    """Per-user counts, biggest first, with the chat's name."""
    where, params = ("TRUE", [])
    if chat is not None:
        where = "(u.chat_id = TRY_CAST(? AS BIGINT) OR lower(c.name) = lower(?))"
        params = [chat.strip(), chat]
    return _run(
        con,
        f"""
        SELECT u.chat_id, c.name AS chat_name, u.sender_key, u.sender_name, u.message_count,
               u.first_message_at, u.last_message_at
        FROM user_message_counts u LEFT JOIN chats c USING (chat_id)
        WHERE {where}
        ORDER BY u.message_count DESC, u.chat_id, u.sender_key
        """,
        params,
    )


def chats(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """Every chat with its message count, first/last message time and source dumps."""
    return _run(
        con,
        """
        WITH m AS (
            SELECT chat_id, count(*) AS message_count, min(sent_at) AS first_message_at,
                   max(sent_at) AS last_message_at
            FROM messages GROUP BY chat_id
        ), d AS (
            SELECT chat_id, list(dump_id ORDER BY dump_id) AS dumps
            FROM chat_dumps GROUP BY chat_id
        )
        SELECT c.chat_id, c.name, c.type, c.is_surrogate,
               coalesce(m.message_count, 0) AS message_count,
               m.first_message_at, m.last_message_at,
               coalesce(d.dumps, []::VARCHAR[]) AS dumps
        FROM chats c LEFT JOIN m USING (chat_id) LEFT JOIN d USING (chat_id)
        ORDER BY c.name NULLS LAST, c.chat_id
        """,
        [],
    )


def dumps(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """Every dump seen, oldest first, with its status and what it changed."""
    return _run(
        con,
        """
        SELECT dump_id, fingerprint, kind, source, files, status, error, row_count,
               new_count, updated_count, unchanged_count, ingested_at
        FROM dumps ORDER BY ingested_at, dump_id
        """,
        [],
    )
