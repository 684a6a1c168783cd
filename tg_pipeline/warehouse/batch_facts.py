"""What an upsert learns of a dump's rows from their Arrow batches, without asking SQL.

Each round of rows is folded in as it passes: per chat, the name and type its latest
message shows and its latest message time; the sender keys; and, for rows that go in
whole, the names each sender key was seen with. The rules are the SQL's
(:func:`~tg_pipeline.warehouse.columns.sender_key_sql`, ``arg_max`` skipping NULL values),
and a dump folded round by round ends with what one pass over the whole dump gives.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from tg_pipeline.warehouse.chat_identity import ChatSeen
from tg_pipeline.warehouse.columns import sender_key_arrow

#: The columns of the ``_tg_names`` temp table (:mod:`.sender_names`), in its order.
NAMES_SCHEMA = pa.schema(
    [
        pa.field("sender_key", pa.string()),
        pa.field("sender_id", pa.string()),
        pa.field("name", pa.string()),
        pa.field("first_seen", pa.timestamp("us", tz="UTC")),
        pa.field("last_seen", pa.timestamp("us", tz="UTC")),
    ]
)


@dataclass
class _Chat:
    name: str | None = None
    name_at: datetime | None = None
    type: str | None = None
    type_at: datetime | None = None
    latest: datetime | None = None

    def seen(self) -> ChatSeen:
        return ChatSeen(self.name, self.type, self.latest)


def _later(at: datetime | None, than: datetime | None) -> bool:
    """Whether a value seen at ``at`` replaces one seen at ``than``: ties go to the later
    round, as within a round they go to the later row."""
    return at is not None and (than is None or at >= than)


def _latest_values(rows: pa.Table, column: str) -> dict[int, tuple[Any, datetime]]:
    """Per chat, the non-NULL ``column`` of its row with the greatest ``sent_at`` (a tie
    to the later row), and that time."""
    rows = rows.filter(pc.is_valid(rows[column]))
    if not rows.num_rows:
        return {}
    ordered = rows.sort_by([("chat_id", "ascending"), ("sent_at", "ascending")])
    found = ordered.group_by("chat_id", use_threads=False).aggregate(
        [(column, "last"), ("sent_at", "max")]
    )
    return {
        chat: (value, at)
        for chat, value, at in zip(
            found["chat_id"].to_pylist(),
            found[f"{column}_last"].to_pylist(),
            found["sent_at_max"].to_pylist(),
            strict=True,
        )
    }


class DumpFacts:
    """The chats and senders of a dump, folded in round by round (:meth:`add`)."""

    def __init__(self) -> None:
        self._chats: dict[int, _Chat] = {}
        self.senders: set[str] = set()

    def add(self, rows: pa.Table) -> tuple[dict[int, ChatSeen], pa.ChunkedArray]:
        """Fold in a round's rows (chat ids resolved); the round's own chats as it shows
        them, and its rows' sender keys."""
        keys = sender_key_arrow(rows["sender_id"], rows["sender_name"])
        self.senders.update(pc.unique(keys).drop_null().to_pylist())
        chat_rows = rows.select(["chat_id", "chat_name", "chat_type", "sent_at"])
        latest = chat_rows.group_by("chat_id").aggregate([("sent_at", "max")])
        names = _latest_values(chat_rows, "chat_name")
        types = _latest_values(chat_rows, "chat_type")
        shown: dict[int, ChatSeen] = {}
        for chat, at in zip(
            latest["chat_id"].to_pylist(), latest["sent_at_max"].to_pylist(), strict=True
        ):
            name, name_at = names.get(chat, (None, None))
            chat_type, type_at = types.get(chat, (None, None))
            shown[chat] = ChatSeen(name, chat_type, at)
            known = self._chats.setdefault(chat, _Chat())
            if _later(name_at, known.name_at):
                known.name, known.name_at = name, name_at
            if _later(type_at, known.type_at):
                known.type, known.type_at = chat_type, type_at
            if _later(at, known.latest):
                known.latest = at
        return shown, keys

    @property
    def chats(self) -> dict[int, ChatSeen]:
        """Each chat as the dump's latest message of it shows it."""
        return {chat: known.seen() for chat, known in self._chats.items()}


def names_of_new(rows: pa.Table, keys: pa.ChunkedArray) -> pa.Table:
    """The ``_tg_names`` rows of a round that goes in whole (every row new): per sender
    key and name, one sender id and the first and last time it was seen."""
    named = pa.table(
        {
            "sender_key": keys,
            "sender_id": rows["sender_id"],
            "name": rows["sender_name"],
            "sent_at": rows["sent_at"],
        }
    ).filter(pc.is_valid(keys))
    found = named.group_by(["sender_key", "name"]).aggregate(
        [("sender_id", "max"), ("sent_at", "min"), ("sent_at", "max")]
    )
    return pa.table(
        [
            found["sender_key"],
            found["sender_id_max"],
            found["name"],
            found["sent_at_min"],
            found["sent_at_max"],
        ],
        schema=NAMES_SCHEMA,
    )
