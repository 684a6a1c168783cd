"""SQL fragments shared by the upsert, the backups and the queries.

They encode the identity rules once: how a sender is keyed, which of two versions of a
message is better, and which chat ids are surrogates. Each takes a column prefix so the
same rule applies to an incoming row (``s.``) and a stored one (``m.``).
"""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pyarrow.compute as pc

from tg_pipeline.records import FIELD_NAMES

#: Columns a backup holds and a restore must give back unchanged.
RECORD_COLUMNS: tuple[str, ...] = FIELD_NAMES
#: The columns of ``messages``: the record's, then what the upsert derives and stamps.
STORED_COLUMNS: tuple[str, ...] = (*RECORD_COLUMNS, "sender_key", "ingested_dump", "updated_at")

#: Surrogate chat ids live far below any id Telegram hands out, so they never collide.
SURROGATE_CEILING = -(1 << 62)


def surrogate_chat_id(name: str | None) -> int:
    """A stable id for a chat known only by name (an HTML export with no chat id)."""
    digest = hashlib.sha256((name or "").encode("utf-8")).digest()
    return SURROGATE_CEILING - int.from_bytes(digest[:8], "big") % ((1 << 62) - 1)


def is_surrogate_chat_id(chat_id: int) -> bool:
    return chat_id <= SURROGATE_CEILING


def sender_key_sql(p: str = "") -> str:
    """``user123`` style ids when known; otherwise a name key, which HTML rows get."""
    return (
        f"CASE WHEN {p}sender_id IS NOT NULL THEN {p}sender_id "
        f"WHEN {p}sender_name IS NOT NULL THEN 'name:' || {p}sender_name END"
    )


def sender_key_arrow(sender_id: pa.Array, sender_name: pa.Array) -> pa.Array:
    """:func:`sender_key_sql` computed on Arrow columns, for rows that go in without SQL."""
    name_key = pc.binary_join_element_wise("name:", sender_name, "")
    return pc.if_else(pc.is_valid(sender_id), sender_id, name_key)


def edit_rank_sql(p: str = "") -> str:
    """Edit time with "never edited" lowest, so any edit beats none."""
    return f"coalesce({p}edited_at, '-infinity'::TIMESTAMPTZ)"


def quality_sql(p: str = "") -> str:
    """How much identity and time information a version carries.

    A JSON export (unixtime, sender ids, ``.json`` source) outranks HTML whatever its time
    precision, so the JSON instant wins when both meet; then exact instants outrank an
    offset, which outranks an assumed zone or an inferred time; then a sender id.
    """
    json_like = (
        f"({p}time_source = 'unixtime' OR {p}sender_id IS NOT NULL "
        f"OR lower(coalesce({p}source_file, '')) LIKE '%.json')"
    )
    time_rank = (
        f"CASE {p}time_source WHEN 'unixtime' THEN 3 WHEN 'html_offset' THEN 2 "
        f"WHEN 'assumed' THEN 1 ELSE 0 END"
    )
    return (
        f"(CASE WHEN {json_like} THEN 8 ELSE 0 END + 2 * {time_rank} "
        f"+ CASE WHEN {p}sender_id IS NOT NULL THEN 1 ELSE 0 END)"
    )


#: The warehouse's tables, in the order ``row_counts`` reports them; the same on both backends.
TABLES = (
    "messages",
    "chats",
    "chat_dumps",
    "senders",
    "sender_names",
    "dumps",
    "user_message_counts",
    "chat_stats",
    "audit_log",
)
