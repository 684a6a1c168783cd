"""The aggregations behind the chat report, each one GROUP BY over ``messages`` in DuckDB.

Every query covers all the chats it is asked about in one pass and returns a few rows per
chat (senders, time buckets, 7 × 24 heatmap cells, media types), so a report over a
million messages never moves the messages themselves into Python. Local times (heatmap,
busiest day, time buckets) are read in each chat's zone: an IANA name (DST-aware) or a fixed
UTC offset in seconds, see :class:`ChatZone`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import duckdb

from tg_pipeline.warehouse.counts import UNKNOWN_SENDER

#: Senders drawn by name in the activity chart; the rest are summed as "others".
ACTIVITY_SENDERS = 5
#: Senders listed by name in the per-sender bar chart.
BAR_SENDERS = 15
OTHERS = "others"


@dataclass(frozen=True)
class ChatZone:
    """How a chat's local time is read: ``zone`` (IANA) wins; else ``offset_s`` from UTC."""

    label: str
    zone: str | None = None
    offset_s: int = 0
    source: str = "default"


UTC_ZONE = ChatZone("UTC", zone="UTC")


@dataclass(frozen=True)
class ChatSummary:
    chat_id: int
    name: str | None
    type: str | None
    messages: int
    service: int
    senders: int
    first_at: datetime | None
    last_at: datetime | None
    replies: int
    forwards: int
    with_media: int
    #: Changes whenever any of the chat's rows change: pages are rebuilt only then.
    signature: str


@dataclass(frozen=True)
class ChatDetail:
    """Everything one chat page draws besides its summary."""

    senders: list[tuple[str, str, int]]  # (sender_key, name, messages), most first; OTHERS last
    bucket: str  # day, week or month
    activity: list[tuple[date, str, int]]  # (bucket start, sender label, messages)
    heatmap: list[tuple[int, int, int]]  # (ISO weekday 1-7, hour 0-23, messages)
    media: list[tuple[str, int]]  # (media type, messages), most first
    busiest_day: tuple[date, int] | None


def _chat_filter(chat_ids: Sequence[int] | None) -> tuple[str, list[Any]]:
    if chat_ids is None:
        return "TRUE", []
    return "list_contains(?::BIGINT[], m.chat_id)", [list(chat_ids)]


def chat_summaries(
    con: duckdb.DuckDBPyConnection, chat_ids: Sequence[int] | None = None
) -> list[ChatSummary]:
    """Headline numbers per chat, busiest chats first."""
    where, params = _chat_filter(chat_ids)
    rows = con.execute(
        f"""
        SELECT m.chat_id,
               coalesce(any_value(c.name), arg_max(m.chat_name, m.sent_at)) AS name,
               coalesce(any_value(c.type), arg_max(m.chat_type, m.sent_at)) AS type,
               count(*) FILTER (m.kind = 'message') AS messages,
               count(*) FILTER (m.kind <> 'message') AS service,
               count(DISTINCT coalesce(m.sender_key, '{UNKNOWN_SENDER}'))
                   FILTER (m.kind = 'message') AS senders,
               min(m.sent_at) FILTER (m.kind = 'message') AS first_at,
               max(m.sent_at) FILTER (m.kind = 'message') AS last_at,
               count(m.reply_to_message_id) FILTER (m.kind = 'message') AS replies,
               count(m.forwarded_from) FILTER (m.kind = 'message') AS forwards,
               count(m.media_type) FILTER (m.kind = 'message') AS with_media,
               count(*) || ':' || max(m.updated_at)::VARCHAR AS signature
        FROM messages m LEFT JOIN chats c ON c.chat_id = m.chat_id
        WHERE {where}
        GROUP BY m.chat_id
        ORDER BY messages DESC, m.chat_id
        """,
        params,
    ).fetchall()
    return [ChatSummary(*row) for row in rows]


def _zones_cte(
    zones: Mapping[int, ChatZone], buckets: Mapping[int, str] | None = None
) -> tuple[str, list[Any]]:
    """A ``zones(chat_id, zone, offset_s, bucket)`` CTE from bound parameters."""
    ids = sorted(zones)
    params: list[Any] = [
        ids,
        [zones[i].zone or "UTC" for i in ids],
        [zones[i].offset_s if zones[i].zone is None else 0 for i in ids],
        [(buckets or {}).get(i, "day") for i in ids],
    ]
    cte = (
        "zones AS (SELECT unnest(?::BIGINT[]) AS chat_id, unnest(?::VARCHAR[]) AS zone, "
        "unnest(?::INTEGER[]) AS offset_s, unnest(?::VARCHAR[]) AS bucket)"
    )
    return cte, params


#: A message's wall-clock time in its chat's zone, as a naive TIMESTAMP.
_LOCAL = "(timezone(z.zone, m.sent_at) + to_seconds(z.offset_s))"


def pick_bucket(first: datetime | None, last: datetime | None) -> str:
    """Days for up to four months of history, weeks up to four years, months beyond."""
    if first is None or last is None:
        return "day"
    days = (last - first).days
    if days <= 120:
        return "day"
    return "week" if days <= 4 * 365 else "month"


def chat_details(
    con: duckdb.DuckDBPyConnection,
    summaries: Sequence[ChatSummary],
    zones: Mapping[int, ChatZone],
) -> dict[int, ChatDetail]:
    """The charts' data for the given chats, a handful of GROUP BYs over all of them."""
    if not summaries:
        return {}
    ids = [s.chat_id for s in summaries]
    zones = {i: zones.get(i, UTC_ZONE) for i in ids}
    buckets = {s.chat_id: pick_bucket(s.first_at, s.last_at) for s in summaries}
    zones_cte, zone_params = _zones_cte(zones, buckets)
    sender = f"coalesce(m.sender_key, '{UNKNOWN_SENDER}')"
    ranked_cte = f"""
        ranked AS (
            SELECT m.chat_id, {sender} AS sender_key,
                   arg_max(m.sender_name, (m.sent_at, m.message_id)) AS name,
                   count(*) AS messages,
                   row_number() OVER (PARTITION BY m.chat_id
                                      ORDER BY count(*) DESC, {sender}) AS rank
            FROM messages m JOIN zones z USING (chat_id)
            WHERE m.kind = 'message'
            GROUP BY m.chat_id, {sender}
        )"""
    base = f"WITH {zones_cte}, {ranked_cte} "

    senders = con.execute(
        base
        + f"""
        SELECT chat_id, CASE WHEN rank <= {BAR_SENDERS} THEN sender_key END AS shown,
               CASE WHEN rank <= {BAR_SENDERS} THEN coalesce(name, sender_key) END,
               sum(messages)::BIGINT AS messages, count(*)
        FROM ranked
        GROUP BY 1, 2, 3
        ORDER BY chat_id, shown IS NULL, messages DESC, shown
        """,
        zone_params,
    ).fetchall()

    activity = con.execute(
        base
        + f"""
        SELECT chat_id, bucket, slot, count(*) AS messages
        FROM (
            SELECT m.chat_id, date_trunc(z.bucket, {_LOCAL})::DATE AS bucket,
                   CASE WHEN r.rank <= {ACTIVITY_SENDERS} THEN r.rank ELSE 0 END AS slot
            FROM messages m JOIN zones z USING (chat_id)
                 JOIN ranked r ON r.chat_id = m.chat_id AND r.sender_key = {sender}
            WHERE m.kind = 'message'
        )
        GROUP BY chat_id, bucket, slot
        ORDER BY chat_id, slot = 0, slot, bucket
        """,
        zone_params,
    ).fetchall()

    heatmap = con.execute(
        f"""
        WITH {zones_cte}
        SELECT chat_id, isodow(local) AS dow, hour(local) AS hour, count(*)
        FROM (SELECT m.chat_id, {_LOCAL} AS local
              FROM messages m JOIN zones z USING (chat_id) WHERE m.kind = 'message')
        GROUP BY ALL
        """,
        zone_params,
    ).fetchall()

    busiest = con.execute(
        f"""
        WITH {zones_cte}
        SELECT chat_id, arg_max(day, (n, -epoch(day))), max(n) FROM (
            SELECT chat_id, day, count(*) AS n
            FROM (SELECT m.chat_id, {_LOCAL}::DATE AS day
                  FROM messages m JOIN zones z USING (chat_id) WHERE m.kind = 'message')
            GROUP BY ALL
        ) GROUP BY chat_id
        """,
        zone_params,
    ).fetchall()

    where, params = _chat_filter(ids)
    media = con.execute(
        f"""
        SELECT m.chat_id, m.media_type, count(*) AS n
        FROM messages m
        WHERE m.kind = 'message' AND m.media_type IS NOT NULL AND {where}
        GROUP BY ALL
        ORDER BY m.chat_id, n DESC, m.media_type
        """,
        params,
    ).fetchall()

    details: dict[int, dict[str, Any]] = {
        i: {"senders": [], "activity": [], "heatmap": [], "media": [], "busiest_day": None}
        for i in ids
    }
    for chat_id, key, name, messages, how_many in senders:
        entry = (key, name, messages) if key is not None else (None, f"{how_many} others", messages)
        details[chat_id]["senders"].append(entry)
    for parts in details.values():
        parts["senders"] = _distinct_names(parts["senders"])
    for chat_id, bucket, slot, messages in activity:
        # Slots are ranks, the order the senders list has; 0 is everyone else.
        label = details[chat_id]["senders"][slot - 1][1] if slot else OTHERS
        details[chat_id]["activity"].append((bucket, label, messages))
    for chat_id, dow, hour, messages in heatmap:
        details[chat_id]["heatmap"].append((dow, hour, messages))
    for chat_id, day, messages in busiest:
        details[chat_id]["busiest_day"] = (day, messages)
    for chat_id, media_type, messages in media:
        details[chat_id]["media"].append((media_type, messages))
    return {
        chat_id: ChatDetail(bucket=buckets[chat_id], **parts) for chat_id, parts in details.items()
    }


def _distinct_names(
    senders: list[tuple[str | None, str, int]],
) -> list[tuple[str | None, str, int]]:
    """Two senders of one name (two people called Anna) are told apart by their keys."""
    names = [name for key, name, _ in senders if key is not None]
    return [
        (key, f"{name} ({key})" if key is not None and names.count(name) > 1 else name, count)
        for key, name, count in senders
    ]


def html_chat_dumps(con: duckdb.DuckDBPyConnection) -> list[tuple[int, str]]:
    """(chat_id, dump_id) of every HTML dump a chat came from: their titles carry offsets."""
    return [
        (int(chat_id), str(dump_id))
        for chat_id, dump_id in con.execute(
            "SELECT cd.chat_id, cd.dump_id FROM chat_dumps cd JOIN dumps d USING (dump_id) "
            "WHERE d.kind = 'telegram_html' ORDER BY cd.chat_id, d.ingested_at DESC"
        ).fetchall()
    ]


def resolve_chats(con: duckdb.DuckDBPyConnection, chats: Sequence[str]) -> list[int]:
    """Chat ids for ids or exact names (case-insensitive); each must match at least one."""
    ids: list[int] = []
    for chat in chats:
        found = [
            int(row[0])
            for row in con.execute(
                "SELECT DISTINCT chat_id FROM messages WHERE chat_id = TRY_CAST(? AS BIGINT) "
                "OR lower(chat_name) = lower(?) "
                "OR chat_id IN (SELECT chat_id FROM chats WHERE lower(name) = lower(?)) "
                "ORDER BY chat_id",
                [chat.strip(), chat, chat],
            ).fetchall()
        ]
        if not found:
            raise LookupError(chat)
        ids.extend(i for i in found if i not in ids)
    return ids
