"""Chat identity during an upsert: ids for chats known only by name, and folding a
surrogate chat into its real one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from tg_pipeline.warehouse.arrow_slot import registered
from tg_pipeline.warehouse.chat_stats import recompute
from tg_pipeline.warehouse.columns import (
    STORED_COLUMNS,
    SURROGATE_CEILING,
    edit_rank_sql,
    is_surrogate_chat_id,
    quality_sql,
    surrogate_chat_id,
)
from tg_pipeline.warehouse.dialect import SqlCon


def _rank_pair(p: str) -> str:
    return f"({edit_rank_sql(p)}, {quality_sql(p)})"


#: The name :func:`record_chats` registers the dump's chats under for its SQL.
_CHAT_INFO = "_tg_chatinfo"


@dataclass
class ChatSeen:
    """A chat as the latest message of it in this dump shows it."""

    name: str | None
    type: str | None
    latest: datetime | None


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

    def __init__(self, con: SqlCon, dump_id: str, now: datetime, chat_id: int | None) -> None:
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


def rekey_chat(con: SqlCon, source: int, target: int, dump_id: str) -> None:
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
    others = ", ".join(c for c in STORED_COLUMNS if c != "chat_id")
    con.execute(
        f"INSERT INTO messages (chat_id, {others}) "
        f"SELECT $2, {others} FROM messages WHERE chat_id = $1",
        [source, target],
    )
    con.execute("DELETE FROM messages WHERE chat_id = ?", [source])
    recompute(con, (source, target))
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


def record_chats(
    con: SqlCon,
    seen: dict[int, ChatSeen],
    rekeyed: dict[int, int],
    dump_id: str,
    now: datetime,
) -> None:
    """Name and type each chat as its latest message in the dump shows it, unless a stored
    name is newer, and note that the dump held it (``chat_dumps``). A surrogate chat that
    was folded into its real one (``rekeyed``) is gone and not noted."""
    if not seen:
        return
    info = pa.table(
        {
            "chat_id": pa.array(list(seen), pa.int64()),
            "name": pa.array([c.name for c in seen.values()], pa.string()),
            "type": pa.array([c.type for c in seen.values()], pa.string()),
            "latest": pa.array([c.latest for c in seen.values()], pa.timestamp("us", tz="UTC")),
        }
    )
    info = info.filter(pc.invert(pc.is_in(info["chat_id"], pa.array(list(rekeyed), pa.int64()))))
    with registered(con, _CHAT_INFO, info):
        con.execute(
            f"""
            UPDATE chats SET name = i.name, type = coalesce(i.type, chats.type),
                name_seen_at = i.latest, updated_at = $1
            FROM {_CHAT_INFO} i
            WHERE chats.chat_id = i.chat_id
              AND (chats.name_seen_at IS NULL OR i.latest >= chats.name_seen_at)
              AND (chats.name IS DISTINCT FROM i.name
                   OR chats.type IS DISTINCT FROM coalesce(i.type, chats.type))
            """,
            [now],
        )
        con.execute(
            f"INSERT INTO chat_dumps SELECT chat_id, $1 FROM {_CHAT_INFO} ON CONFLICT DO NOTHING",
            [dump_id],
        )
