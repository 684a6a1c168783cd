"""One chat of a JSON export as its messages arrive: its fields once known, the rows that
wait for them, positional ids and the dates undated entries borrow.

Imports only the JSON reader's own modules and the record schema.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa

from tg_pipeline.errors import DumpError
from tg_pipeline.readers.json_message import (
    CHAT_ID,
    CHAT_NAME,
    CHAT_TYPE,
    EXTRA,
    INT64_MAX,
    MESSAGE_ID,
    OLD_IDS,
    SENT_AT,
    SOURCE_POSITION,
    USER_SHIFT,
    BadMessage,
    bare_chat_id,
    message_row,
)

if TYPE_CHECKING:
    from tg_pipeline.readers.json_pass import JsonPass

#: Rows of one chat held back while its fields are unknown, before a metadata pass.
PENDING_LIMIT = 20_000
_META_KEYS = ("name", "type", "id")


class MetadataFound(Exception):
    """Ends a metadata-only pass as soon as the wanted chat's fields are read."""

    def __init__(self, chat: Chat) -> None:
        self.chat = chat


class Chat:
    """One chat being read: its fields once known, and rows that wait for them."""

    def __init__(self, reader: JsonPass, prefix: str) -> None:
        # A proxy, not a reference: a reader and its chats would otherwise form a cycle
        # that only a full collection frees. A worker reads hundreds of pieces and the
        # collector rarely runs one, so each piece's reader, with its text, would linger.
        self.reader: JsonPass = weakref.proxy(reader)
        self.prefix = prefix
        self.taken = 0
        self.tdesktop_order: bool | None = None
        self.meta_final = False
        self.name: str | None = None
        self.type: str | None = None
        self.raw_id: int | None = None
        self.scheme: str | None = None
        self.resolved = False
        self.fields: tuple[int | None, str | None, str | None] = (None, None, None)
        self.positional: bool | None = None
        self.pending: list[list[Any]] = []
        self.undated = 0
        self.last_sent: int | None = None

    def position(self, index: int) -> str:
        return f"{self.prefix}messages[{index}]"

    def where(self, messages: list[Any]) -> str:
        if messages:
            return "in " + self.position(self.taken + len(messages) - 1)
        if self.taken:
            return "after " + self.position(self.taken - 1)
        return f"at the start of {self.prefix}messages"

    def note_order(self, chat: dict[str, Any]) -> None:
        """Whether tdesktop's order holds: some chat field written before the messages."""
        for key in chat:
            if key == "messages":
                self.tdesktop_order = False
                return
            if key in _META_KEYS:
                self.tdesktop_order = True
                return

    def read_meta(self, chat: dict[str, Any]) -> None:
        name = chat.get("name")
        kind = chat.get("type")
        raw = chat.get("id")
        self.name = name if type(name) is str else None
        self.type = kind if type(kind) is str else None
        if type(raw) is str and raw.lstrip("-").isdigit():
            raw = int(raw)
        self.raw_id = raw if type(raw) is int else None
        self.meta_final = True

    def take(self, messages: list[Any], chat: dict[str, Any]) -> None:
        reader = self.reader
        if reader.collect_only is not None:
            if self.scheme is None:
                self._observe(messages)
            self.taken += len(messages)
            return
        zone_name = reader.zone_name
        file = reader.file
        prefix = self.prefix
        positions = reader.positions
        append = reader.builder.append_values
        ready = reader.ready
        # Settled before the loop where it can be, so that the rows go straight to the
        # builder; resolving sees the same chat fields here as after the loop.
        if not self.resolved:
            self.resolve(chat, complete=False)
        fields = self.fields
        # Rows go straight to the builder once the chat is settled; everything else
        # (first message, waiting rows, undated entries, a restart's skip) takes _place.
        direct = self.resolved and not self.pending and not reader.skip and self.positional is False
        index = self.taken
        last_sent = self.last_sent
        for msg in messages:
            position = f"{prefix}messages[{index}]" if positions else None
            if type(msg) is not dict:
                raise DumpError("message is not a JSON object", file=file, position=position)
            try:
                row, scheme = message_row(msg, zone_name, fields, file, position)
            except BadMessage as exc:
                raise DumpError(str(exc), file=file, position=position) from None
            sent_at = row[SENT_AT]
            if direct and sent_at is not None and row[MESSAGE_ID] is not None:
                last_sent = sent_at
                try:
                    batch = append(row)
                except (pa.ArrowException, orjson.JSONEncodeError, TypeError, ValueError) as exc:
                    raise reader.store_error(exc, position) from None
                if batch is not None:
                    ready.append(batch)
            else:
                self.last_sent = last_sent
                self._place(row, scheme, index, position)
                last_sent = self.last_sent
                direct = (
                    self.resolved
                    and not self.pending
                    and not reader.skip
                    and self.positional is False
                )
            index += 1
        self.taken = index
        self.last_sent = last_sent
        if not self.resolved:
            self.resolve(chat, complete=False)
        if self.pending and self.resolved and not self.undated:
            self.flush()

    def _place(self, row: list[Any], scheme: str | None, index: int, position: str | None) -> None:
        """Everything the direct path leaves out: ids, dates, and rows that must wait."""
        file = self.reader.file
        if row[MESSAGE_ID] is None:
            if self.positional is None:
                self.positional = index == 0
            if not self.positional:
                raise DumpError("message has no 'id'", file=file, position=position)
            row[MESSAGE_ID] = index + 1
            row[EXTRA]["id_from_position"] = True
        elif self.positional:
            raise DumpError(
                "message has an 'id' but the chat's first message has none",
                file=file,
                position=position,
            )
        else:
            self.positional = False
        if scheme is not None and self.scheme is None:
            self.scheme = scheme
        pending = self.pending
        sent_at = row[SENT_AT]
        if sent_at is None:
            if "type" not in row[EXTRA]:
                raise DumpError("message has no 'date'", file=file, position=position)
            if self.last_sent is None:
                self.undated += 1
            else:
                row[SENT_AT] = self.last_sent
        else:
            self.last_sent = sent_at
            if self.undated:
                for waiting in pending[-self.undated :]:
                    waiting[SENT_AT] = sent_at
                self.undated = 0
        if self.resolved and not self.undated and not pending:
            self.reader.emit(row)
        else:
            pending.append(row)

    def _observe(self, messages: list[Any]) -> None:
        for msg in messages:
            if type(msg) is not dict:
                continue
            evidence = [msg.get("from_id"), msg.get("actor_id")]
            if "date_unixtime" in msg or any(type(v) is str for v in evidence):
                self.scheme = "new"
                return
            if any(type(v) is int for v in evidence):
                self.scheme = OLD_IDS
                return

    def resolve(self, chat: dict[str, Any], *, complete: bool) -> None:
        """Fix the chat's fields once they can no longer change."""
        if self.resolved:
            return
        overflow = len(self.pending) >= PENDING_LIMIT
        if not self.meta_final:
            if complete or self.tdesktop_order:
                self.read_meta(chat)
            elif overflow:
                self.reader.learn_metadata(self)
            else:
                return
        raw = self.raw_id
        if raw is None or raw < USER_SHIFT:
            chat_id = raw
        elif self.scheme is not None:
            chat_id = bare_chat_id(raw, self.scheme)
        elif complete or overflow:
            # No message says which id scheme the export used: only old exports wrote
            # chat ids this large, and they folded the peer kind into them.
            chat_id = bare_chat_id(raw, OLD_IDS)
        else:
            return
        if chat_id is not None and not -INT64_MAX <= chat_id <= INT64_MAX:
            raise DumpError(
                f"chat id {raw} is out of range", file=self.reader.file, position=self.prefix
            )
        self.fields = (chat_id, self.name, self.type)
        self.resolved = True

    def flush(self) -> None:
        chat_id, chat_name, chat_type = self.fields
        emit = self.reader.emit
        for row in self.pending:
            row[CHAT_ID] = chat_id
            row[CHAT_NAME] = chat_name
            row[CHAT_TYPE] = chat_type
            emit(row)
        self.pending.clear()

    def finish(self, chat: dict[str, Any]) -> None:
        if self.reader.collect_only is not None:
            self.read_meta(chat)
            if self.prefix == self.reader.collect_only:
                raise MetadataFound(self)
            return
        self.resolve(chat, complete=True)
        if self.undated:
            first = self.pending[-self.undated][SOURCE_POSITION]
            raise DumpError(
                "entry has no date and no dated message in its chat",
                file=self.reader.file,
                position=first,
            )
        if self.pending:
            self.flush()


class Section:
    """``chats`` or ``left_chats``: how many of its chats were read and removed."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.offset = 0
        self.current: Chat | None = None
