"""The reads' SQL, spoken by both backends: message filters, listings, counts and dumps.

Every filter value is a bound parameter, and text matching uses ``contains``/``lower``
(or ``regexp_matches``), never a LIKE pattern built from user input, so quotes, ``%``,
``_``, SQL and emoji in a chat name, sender name or search text match literally.
Building these statements needs no database driver; :mod:`.queries` runs them on DuckDB
and :mod:`.pg.warehouse` on PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from tg_pipeline.records import MESSAGE_SCHEMA
from tg_pipeline.warehouse.dialect import DUCKDB, Dialect, SqlCon


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


def where_clause(f: MessageFilter, dialect: Dialect = DUCKDB) -> tuple[str, list[Any]]:
    """SQL condition over ``messages`` (unqualified columns) and its parameters."""
    parts: list[str] = []
    params: list[Any] = []
    if f.chat is not None:
        parts.append(
            f"({dialect.chat_id_is('chat_id', '?')} OR lower(chat_name) = lower(?) "
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
            parts.append(dialect.regex_ci("text", "?"))
        else:
            parts.append(dialect.contains_ci("text", "?"))
        params.append(f.text)
    if f.kind is not None:
        parts.append("kind = ?")
        params.append(f.kind)
    return (" AND ".join(parts) if parts else "TRUE"), params


def settle(con: SqlCon) -> None:
    """Finish any result a caller left half-read (``execute(...).fetchone()``): DuckDB 2.0
    refuses relation queries (``con.sql``) until it is done, while ``execute`` simply
    replaces it."""
    con.execute("SELECT 1").fetchall()


#: ``messages`` rows as the CLI shows them: the record columns, then ``sender_key``.
MESSAGES_OUT_SCHEMA = pa.schema(
    [*MESSAGE_SCHEMA, pa.field("sender_key", pa.string())], metadata=MESSAGE_SCHEMA.metadata
)


def _chat_condition(
    chat: str | None, column: str, dialect: Dialect = DUCKDB
) -> tuple[str, list[Any]]:
    if chat is None:
        return "TRUE", []
    return (
        f"({dialect.chat_id_is(column, '?')} OR lower(c.name) = lower(?))",
        [chat.strip(), chat],
    )


def counts_query(chat: str | None, dialect: Dialect = DUCKDB) -> tuple[str, list[Any]]:
    """Per-user counts, biggest first, with the chat's name: SQL and parameters."""
    where, params = _chat_condition(chat, "u.chat_id", dialect)
    sql = f"""
        SELECT u.chat_id, c.name AS chat_name, u.sender_key, u.sender_name, u.message_count,
               u.first_message_at, u.last_message_at
        FROM user_message_counts u LEFT JOIN chats c USING (chat_id)
        WHERE {where}
        ORDER BY u.message_count DESC, u.chat_id, u.sender_key
        """
    return sql, params


OVERALL_COUNTS = """
        SELECT sender_key, max(sender_name) AS sender_name,
               sum(message_count)::BIGINT AS message_count,
               count(DISTINCT chat_id) AS chats,
               min(first_message_at) AS first_message_at,
               max(last_message_at) AS last_message_at
        FROM user_message_counts GROUP BY sender_key
        ORDER BY message_count DESC, sender_key
        """


def limited(sql: str, limit: int | None, params: list[Any], offset: int = 0) -> str:
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    if offset:
        sql += " OFFSET ?"
        params.append(int(offset))
    return sql


def count_rows_query(
    what: str, chat: str | None, dialect: Dialect = DUCKDB
) -> tuple[str, list[Any]]:
    """:func:`count_rows`' SQL and parameters."""
    if what == "counts":
        where, params = _chat_condition(chat, "u.chat_id", dialect)
        sql = (
            "SELECT count(*) FROM user_message_counts u LEFT JOIN chats c USING (chat_id) "
            f"WHERE {where}"
        )
    elif what == "overall":
        sql, params = "SELECT count(DISTINCT sender_key) FROM user_message_counts", []
    else:
        sql, params = "SELECT count(*) FROM chats", []
    return sql, params


def chats_sql(dialect: Dialect = DUCKDB) -> str:
    """Every chat with its counts and the dumps that held it. The counts come from the
    per-chat summary (:mod:`.chat_stats`), so the listing never scans ``messages``."""
    return f"""
        WITH d AS (
            SELECT chat_id, {dialect.text_list("dump_id", "dump_id")} AS dumps
            FROM chat_dumps GROUP BY chat_id
        )
        SELECT c.chat_id, c.name, c.type, c.is_surrogate,
               coalesce(m.message_count, 0) AS message_count,
               coalesce(m.service_count, 0) AS service_count,
               m.first_message_at, m.last_message_at,
               coalesce(d.dumps, {dialect.empty_text_list()}) AS dumps
        FROM chats c LEFT JOIN chat_stats m USING (chat_id) LEFT JOIN d USING (chat_id)
        ORDER BY c.name NULLS LAST, c.chat_id
        """


DUMPS = """
        SELECT dump_id, fingerprint, kind, source, files, status, error, row_count,
               new_count, updated_count, unchanged_count, ingested_at
        FROM dumps ORDER BY ingested_at, dump_id
        """
