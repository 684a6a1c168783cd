"""One ``result.json`` message object to one normalized record row.

This is the JSON reader's hot path: it runs once per message, so it pops the keys it turns
into columns straight off the parsed dict (the dict belongs to the reader) and whatever is
left over becomes ``extra`` as is. Nothing Telegram wrote is dropped: a value that does not
fit its column (a hand-made file's odd type) stays in ``extra`` under its own key.

Telegram Desktop changed its identifiers over the years: before v1.4.8 there were none,
v1.4.8-v2.6 wrote peers as numbers with the peer kind folded into the high bits, v2.7.2+
writes ``user123`` / ``channel456`` / ``chat789`` strings and bare chat ids. The helpers
here undo the old encoding so one user keeps one sender id across exports of any age.
"""

from __future__ import annotations

from typing import Any

from tg_pipeline.readers.timeparse import wall_to_epoch

#: v1.4.8-v2.6 peer encodings: users were ``2**32 + id``, chats and channels ``2**33 + id``.
USER_SHIFT = 1 << 32
PEER_SHIFT = 2 << 32
#: Messages of a basic group that became a supergroup are exported with ids shifted by this.
MIGRATED_SHIFT = 1_000_000_000
INT64_MAX = (1 << 63) - 1

#: The values of a row, in order: the record schema's fields.
ROW_FIELDS = (
    "chat_id",
    "chat_name",
    "chat_type",
    "message_id",
    "kind",
    "sent_at",
    "edited_at",
    "time_source",
    "sender_id",
    "sender_name",
    "text",
    "entities",
    "reply_to_message_id",
    "forwarded_from",
    "via_bot",
    "author",
    "media_type",
    "media_path",
    "action",
    "actor",
    "reactions",
    "extra",
    "source_file",
    "source_position",
)
CHAT_ID, CHAT_NAME, CHAT_TYPE, MESSAGE_ID = 0, 1, 2, 3
SENT_AT = ROW_FIELDS.index("sent_at")
EXTRA = ROW_FIELDS.index("extra")
SOURCE_POSITION = ROW_FIELDS.index("source_position")

#: Evidence of the id scheme a chat was exported with.
NEW_IDS = "new"
OLD_IDS = "old"

_MISSING: Any = object()
_MAX_SECONDS = 1 << 40
_OUT_OF_RANGE = 1 << 41

#: Media that is not a file, recognised by the key tdesktop writes for it.
_MEDIA_KEYS = (
    ("poll", "poll"),
    ("location_information", "location"),
    ("place_name", "location"),
    ("contact_information", "contact"),
    ("game_title", "game"),
    ("invoice_information", "invoice"),
    ("giveaway_information", "giveaway"),
    ("giveaway_results", "giveaway_results"),
)

#: Keys that only some messages have; a message with none of them skips their handling.
_RARE_KEYS = frozenset(
    {
        "edited_unixtime",
        "edited",
        "reply_to_message_id",
        "reactions",
        "forwarded_from",
        "via_bot",
        "author",
        "action",
        "actor",
        "photo",
        "file",
        "media_type",
        *(key for key, _ in _MEDIA_KEYS),
    }
)

#: Before v2.1.9 every unedited message carried ``edited`` = the epoch in local time.
_EPOCH_SENTINELS = ("1970-01-01", "1969-12-31")


class BadMessage(ValueError):
    """A message the dump cannot be accepted with; the reader adds the file and position."""


def sender_from_number(value: int) -> str:
    """The v2.7.2+ sender id for a numeric ``from_id`` of an older export."""
    if value >= PEER_SHIFT:
        return f"channel{value - PEER_SHIFT}"
    if value >= USER_SHIFT:
        return f"user{value - USER_SHIFT}"
    return f"user{value}"


def bare_chat_id(value: int, scheme: str) -> int:
    """The bare chat id for a chat ``id``; old exports folded the peer kind into it."""
    if scheme == OLD_IDS:
        if value >= PEER_SHIFT:
            return value - PEER_SHIFT
        if value >= USER_SHIFT:
            return value - USER_SHIFT
    return value


def parse_wall_time(value: Any, zone_name: str) -> int:
    """Epoch seconds of tdesktop's ``YYYY-MM-DDTHH:MM:SS`` local time read in ``zone_name``."""
    if type(value) is not str or len(value) < 19 or value[4] != "-" or value[10] != "T":
        raise BadMessage(f"date {value!r} is not YYYY-MM-DDTHH:MM:SS")
    try:
        return wall_to_epoch(
            int(value[0:4]),
            int(value[5:7]),
            int(value[8:10]),
            int(value[11:13]),
            int(value[14:16]),
            int(value[17:19]),
            zone_name,
        )
    except ValueError as exc:
        raise BadMessage(f"date {value!r} is not a valid time") from exc


def _unixtime(value: Any, key: str) -> int:
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        seconds = _OUT_OF_RANGE
    if not -_MAX_SECONDS < seconds < _MAX_SECONDS or type(value) is bool:
        raise BadMessage(f"{key} {value!r} is not a number of seconds")
    return seconds


def _piece(part: Any) -> dict[str, Any]:
    """One entity piece with a string ``text``; plain strings are ``plain`` pieces."""
    if type(part) is str:
        return {"type": "plain", "text": part}
    if type(part) is not dict:
        raise BadMessage(f"text piece {part!r} is neither a string nor an object")
    text = part.get("text")
    if type(text) is str and type(part.get("type")) is str:
        return part
    fixed = dict(part)
    if type(text) is not str:
        if text is not None and not isinstance(text, int | float):
            raise BadMessage(f"text piece {part!r} has no string text")
        fixed["text"] = "" if text is None else str(text)
    if type(part.get("type")) is not str:
        fixed["type"] = "plain" if part.get("type") is None else str(part.get("type"))
    return fixed


def text_pieces(value: Any) -> tuple[str, list[dict[str, Any]]]:
    """Plain text and entity pieces of a ``text`` or ``text_entities`` value.

    Empty ``plain`` pieces are dropped: tdesktop leaves one at the end of some non-ASCII
    texts that end in an entity, and they carry nothing. The pieces' texts always join to
    the plain text.
    """
    if type(value) is str:
        return value, ([{"type": "plain", "text": value}] if value else [])
    if value is None:
        return "", []
    if type(value) is not list:
        raise BadMessage(f"text {value!r} is neither a string nor a list")
    pieces: list[dict[str, Any]] = value
    for part in value:
        if (
            type(part) is not dict
            or type(part.get("text")) is not str
            or type(part.get("type")) is not str
        ):
            pieces = [_piece(part) for part in value]
            break
    texts = [part["text"] for part in pieces]
    if "" in texts:
        pieces = [p for p in pieces if p["text"] or p["type"] != "plain"]
    return "".join(texts), pieces


def _plain_text(value: Any) -> str | None:
    """The plain text of a raw ``text`` value, or None when it is not text at all."""
    if type(value) is str:
        return value
    if type(value) is not list:
        return None
    parts: list[str] = []
    for part in value:
        if type(part) is str:
            parts.append(part)
        elif type(part) is dict and type(part.get("text")) is str:
            parts.append(part["text"])
        else:
            return None
    return "".join(parts)


def _path(msg: dict[str, Any], key: str) -> str | None:
    """``msg[key]`` popped as a media path; a value that is not a path stays in ``extra``.

    tdesktop writes a parenthesised note such as "(File not included. Change data exporting
    settings to download.)" where a file was not exported: that is no path, so it goes to
    ``extra.media_note``, where the HTML reader keeps the same note.
    """
    value = msg.get(key)
    if type(value) is str:
        del msg[key]
        if value.startswith("(File ") and value.endswith(")"):
            msg["media_note"] = value
            return None
        return value
    return None


def _media(msg: dict[str, Any]) -> tuple[str | None, str | None]:
    if "photo" in msg:
        return "photo", _path(msg, "photo")
    if "file" in msg:
        kind = msg.get("media_type")
        if type(kind) is str:
            del msg["media_type"]
        else:
            kind = "file"
        return kind, _path(msg, "file")
    kind = msg.get("media_type")
    if type(kind) is str:
        del msg["media_type"]
        return kind, None
    for key, name in _MEDIA_KEYS:
        if key in msg:
            return name, (_path(msg, "contact_vcard") if name == "contact" else None)
    return None, None


def _check_ids(message_id: Any, kind: Any) -> int | None:
    """Validate ``id``/``type`` off the fast path; a missing id is None (a hand-made file)."""
    if type(kind) is not str:
        raise BadMessage("message has no 'type'" if kind is _MISSING else f"type {kind!r}")
    if message_id is _MISSING:
        return None
    if type(message_id) is not int:
        raise BadMessage(f"message id {message_id!r} is not an integer")
    if not -INT64_MAX <= message_id <= INT64_MAX:
        raise BadMessage(f"message id {message_id} is out of range")
    return message_id


def _text(raw_text: Any, entities_value: Any, msg: dict[str, Any]) -> tuple[str, list[Any]]:
    if entities_value is _MISSING:
        return text_pieces(raw_text)
    text, entities = text_pieces(entities_value)
    if raw_text != text:
        plain = raw_text if type(raw_text) is str else _plain_text(raw_text)
        if plain is None:
            msg["text"] = raw_text
        elif plain != text:
            # The two disagree only in hand-made files; ``text`` is the older field every
            # export has, so it wins and the odd entities are kept as written.
            msg["text_entities"] = entities_value
            return text_pieces(raw_text)
    return text, entities


def _optional_str(msg: dict[str, Any], key: str) -> str | None:
    """``msg[key]`` popped for a string column; any other value stays in ``extra``."""
    value = msg.pop(key, None)
    if value is None or type(value) is str:
        return value
    msg[key] = value
    return None


def message_row(
    msg: dict[str, Any],
    zone_name: str,
    chat: tuple[int | None, str | None, str | None],
    source_file: str,
    source_position: str | None,
) -> tuple[list[Any], str | None]:
    """The record row for one message, and the id scheme it reveals (None if it reveals none).

    The row is a list of values in :data:`ROW_FIELDS` order, for
    :meth:`BatchBuilder.append_values`. ``chat`` is (chat_id, chat_name, chat_type).
    ``sent_at`` is None only for entries that carry no date (``unsupported``), which the
    reader dates from their neighbours; ``message_id`` is None when the message has no
    ``id`` key at all. Raises :class:`BadMessage` for a message the dump cannot be
    accepted with.
    """
    pop = msg.pop
    message_id = pop("id", _MISSING)
    kind = pop("type", _MISSING)
    if (
        type(message_id) is not int
        or type(kind) is not str
        or not -INT64_MAX <= message_id <= INT64_MAX
    ):
        message_id = _check_ids(message_id, kind)

    # Times: date_unixtime is exact; date alone is wall time in the exporter's zone.
    scheme: str | None
    unixtime = pop("date_unixtime", None)
    if unixtime is not None:
        try:
            sent_at: int | None = int(unixtime)
        except (TypeError, ValueError):
            sent_at = _OUT_OF_RANGE
        if not -_MAX_SECONDS < sent_at < _MAX_SECONDS:  # type: ignore[operator]
            raise BadMessage(f"date_unixtime {unixtime!r} is not a number of seconds")
        time_source = "unixtime"
        scheme = NEW_IDS
    elif "date" in msg:
        sent_at = parse_wall_time(msg["date"], zone_name)
        time_source = "assumed"
        scheme = None
    else:
        sent_at = None
        time_source = "inferred"
        scheme = None

    # Sender: from_id is "user123" since v2.7.2, a number before.
    from_id = pop("from_id", None)
    if type(from_id) is str:
        sender_id: str | None = from_id
        scheme = NEW_IDS
    elif from_id is None:
        sender_id = None
    elif type(from_id) is int:
        sender_id = sender_from_number(from_id)
        scheme = OLD_IDS
    else:
        msg["from_id"] = from_id
        sender_id = None
    sender_name = pop("from", None)
    if sender_name is not None and type(sender_name) is not str:
        msg["from"] = sender_name
        sender_name = None
    if scheme is None:
        actor_id = msg.get("actor_id")
        if type(actor_id) is str:
            scheme = NEW_IDS
        elif type(actor_id) is int:
            scheme = OLD_IDS

    # Text: text_entities (v4.1.2+) gives the pieces when it says what text says.
    raw_text = pop("text", "")
    entities_value = pop("text_entities", _MISSING)
    if (
        type(entities_value) is list
        and len(entities_value) == 1
        and type(piece := entities_value[0]) is dict
        and piece.get("type") == "plain"
        and piece.get("text") == raw_text
        and type(raw_text) is str
    ):
        # One str object serves both columns; the parser's duplicate is freed at once.
        piece["text"] = text = raw_text
        entities: list[Any] = entities_value if raw_text else []
    elif raw_text == "" and entities_value == []:
        text = ""
        entities = entities_value
    else:
        text, entities = _text(raw_text, entities_value, msg)

    if _RARE_KEYS.isdisjoint(msg):
        if kind == "message":
            return [
                chat[0],
                chat[1],
                chat[2],
                message_id,
                "message",
                sent_at,
                None,
                time_source,
                sender_id,
                sender_name,
                text,
                entities,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                msg,
                source_file,
                source_position,
            ], scheme
        edited_at = reply = reactions = forwarded_from = via_bot = author = None
        media_type = media_path = action = actor = None
    else:
        edited_unixtime = pop("edited_unixtime", None)
        if edited_unixtime is not None:
            edited_at = _unixtime(edited_unixtime, "edited_unixtime") or None
        else:
            edited = msg.get("edited")
            if edited is None or (type(edited) is str and edited.startswith(_EPOCH_SENTINELS)):
                edited_at = None
            else:
                edited_at = parse_wall_time(edited, zone_name)
        reply = msg.get("reply_to_message_id")
        if "reply_to_peer_id" in msg:
            # A message of another chat: both ids stay in extra, none links into this chat.
            reply = None
        elif type(reply) is int and -INT64_MAX <= reply <= INT64_MAX:
            del msg["reply_to_message_id"]
        else:
            reply = None
        reactions = pop("reactions", None)
        forwarded_from = _optional_str(msg, "forwarded_from")
        via_bot = _optional_str(msg, "via_bot")
        author = _optional_str(msg, "author")
        action = _optional_str(msg, "action")
        actor = _optional_str(msg, "actor")
        media_type, media_path = _media(msg)

    if kind == "message":
        record_kind = "message"
    elif kind == "service":
        record_kind = "service"
    else:
        # "unsupported" entries and types newer than this reader stay messages; the raw
        # type is kept so they can be told apart.
        record_kind = "message"
        msg["type"] = kind
    if message_id is not None and -MIGRATED_SHIFT < message_id < 0:
        msg["migrated_group_message_id"] = message_id + MIGRATED_SHIFT

    return [
        chat[0],
        chat[1],
        chat[2],
        message_id,
        record_kind,
        sent_at,
        edited_at,
        time_source,
        sender_id,
        sender_name,
        text,
        entities,
        reply,
        forwarded_from,
        via_bot,
        author,
        media_type,
        media_path,
        action,
        actor,
        reactions,
        msg,
        source_file,
        source_position,
    ], scheme
