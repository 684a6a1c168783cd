"""``result.json`` exactly as tdesktop's JsonWriter writes it (single chat or account)."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import TextIO

from tg_pipeline_tests.synthetic.formats import Clock, number_text
from tg_pipeline_tests.synthetic.model import (
    ENTITY_TYPES,
    Account,
    Action,
    Chat,
    Contact,
    Document,
    Flavor,
    Location,
    Media,
    Message,
    Part,
    Peer,
    Photo,
    Poll,
    Reaction,
    text_parts,
)

NOT_INCLUDED = "(File not included. Change data exporting settings to download.)"
ABOUT_ACCOUNT = (
    "Here is the data you requested. Remember: Telegram is ad free, it doesn't sell your "
    "data. Telegram only keeps what it needs to function as a feature-rich cloud service. "
    "You can read more at https://telegram.org/privacy"
)
ABOUT_CHATS = "This page lists all chats from this export."
ABOUT_LEFT_CHATS = "This page lists all supergroups and channels from this export that you've left."


_JSON_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", '"': '\\"', "\\": "\\\\"}
_JSON_TABLE = {ord(k): v for k, v in _JSON_ESCAPES.items()}
_JSON_TABLE.update({c: f"\\x{c:02X}" for c in range(32) if c not in (9, 10, 13)})
_JSON_TABLE[0x2028] = "\\u2028"
_JSON_TABLE[0x2029] = "\\u2029"
_JSON_SPECIAL = re.compile('[\x00-\x1f"\\\\\u2028\u2029]')


def json_string(value: str) -> str:
    """tdesktop's SerializeString: note ``\\xHH`` for control characters (invalid JSON)."""
    if _JSON_SPECIAL.search(value) is None:
        return '"' + value + '"'
    return '"' + value.translate(_JSON_TABLE) + '"'


def _json_object(pairs: Sequence[tuple[str, str]], indent: int) -> str:
    inner = "\n" + " " * (indent + 1)
    body = ",".join(f"{inner}{json_string(key)}: {value}" for key, value in pairs if value)
    return "{" + body + "\n" + " " * indent + "}"


def _json_array(values: Sequence[str], indent: int) -> str:
    inner = "\n" + " " * (indent + 1)
    return (
        "["
        + "".join(("," if i else "") + inner + v for i, v in enumerate(values))
        + ("\n" + " " * indent + "]")
    )


def _json_text(parts: Sequence[Part], level: int, objects: bool, flavor: Flavor) -> str:
    """SerializeText at nesting ``level``."""
    if not parts:
        return "[]" if objects else '""'
    values: list[str] = []
    for part in parts:
        if part.type == "plain" and not objects:
            values.append(json_string(part.text))
            continue
        pairs = [("type", json_string(part.type)), ("text", json_string(part.text))]
        key = ENTITY_TYPES.get(part.type)
        if key == "user_id":
            pairs.append((key, part.additional))
        elif key in ("href", "language", "document_id"):
            pairs.append((key, json_string(part.additional)))
        elif key == "collapsed" and flavor.blockquote_collapsed:
            pairs.append((key, "true" if part.additional else "false"))
        values.append(_json_object(pairs, level + 1))
    if not objects and len(parts) == 1 and parts[0].type == "plain":
        return values[0]
    return _json_array(values, level)


class _JsonPeers:
    def __init__(self, flavor: Flavor) -> None:
        self.flavor = flavor

    def name(self, peer: Peer | None) -> str:
        if peer is None or not peer.name:
            return "null"
        return json_string(peer.name)

    def id(self, peer: Peer) -> str:
        if self.flavor.numeric_ids:
            return str(peer.numeric_id())
        return json_string(peer.peer_id)


def json_message(message: Message, indent: int, clock: Clock, flavor: Flavor) -> str:
    """One message object as SerializeMessage writes it at message nesting ``indent``."""
    if message.unsupported:
        return _json_object([("id", str(message.id)), ("type", '"unsupported"')], indent)
    level = indent + 1
    peers = _JsonPeers(flavor)
    pairs: list[tuple[str, str]] = [
        ("id", str(message.id)),
        ("type", '"service"' if message.action is not None else '"message"'),
        ("date", json_string(clock.iso(message.date))),
    ]
    if flavor.unixtime:
        pairs.append(("date_unixtime", f'"{message.date}"'))
    if message.edited:
        pairs.append(("edited", json_string(clock.iso(message.edited))))
        if flavor.unixtime:
            pairs.append(("edited_unixtime", f'"{message.edited}"'))
    action = message.action
    if action is not None:
        if message.sender is not None:
            pairs.append(("actor", peers.name(message.sender)))
            pairs.append(("actor_id", peers.id(message.sender)))
        pairs.append(("action", json_string(action.type)))
        _json_action(action, pairs, level, peers, flavor)
    else:
        if message.sender is not None:
            pairs.append(("from", peers.name(message.sender)))
            pairs.append(("from_id", peers.id(message.sender)))
        if message.author:
            pairs.append(("author", json_string(message.author)))
        forwarded = message.forwarded_from
        if isinstance(forwarded, Peer):
            pairs.append(("forwarded_from", peers.name(forwarded)))
        elif forwarded is not None:
            pairs.append(("forwarded_from", json_string(forwarded) if forwarded else "null"))
        if message.reply_to:
            pairs.append(("reply_to_message_id", str(message.reply_to)))
            if message.reply_to_peer is not None:
                pairs.append(("reply_to_peer_id", peers.id(message.reply_to_peer)))
        if message.via_bot is not None and message.via_bot.username:
            pairs.append(("via_bot", json_string("@" + message.via_bot.username)))
    if message.media is not None:
        _json_media(message.media, pairs, level, flavor)
    parts = text_parts(message.parts)
    pairs.append(("text", _json_text(parts, level, False, flavor)))
    if flavor.text_entities:
        pairs.append(("text_entities", _json_text(parts, level, True, flavor)))
    if message.reactions:
        pairs.append(("reactions", _json_reactions(message.reactions, level, clock, peers)))
    return _json_object(pairs, indent)


def _json_photo(photo: Photo, pairs: list[tuple[str, str]], flavor: Flavor) -> None:
    pairs.append(("photo", json_string(photo.path or NOT_INCLUDED)))
    if flavor.file_sizes:
        pairs.append(("photo_file_size", str(photo.size)))
    if photo.width and photo.height:
        pairs.append(("width", str(photo.width)))
        pairs.append(("height", str(photo.height)))
    if photo.spoiler:
        pairs.append(("media_spoiler", "true"))


def _json_media(media: Media, pairs: list[tuple[str, str]], level: int, flavor: Flavor) -> None:
    if isinstance(media, Photo):
        _json_photo(media, pairs, flavor)
    elif isinstance(media, Document):
        pairs.append(("file", json_string(media.path or NOT_INCLUDED)))
        if flavor.file_sizes:
            if media.file_name:
                pairs.append(("file_name", json_string(media.file_name)))
            pairs.append(("file_size", str(media.size)))
        if media.thumb is not None:
            pairs.append(("thumbnail", json_string(media.thumb or NOT_INCLUDED)))
            if flavor.file_sizes:
                pairs.append(("thumbnail_file_size", str(media.thumb_size)))
        if media.kind != "file":
            pairs.append(("media_type", json_string(media.kind)))
        if media.kind == "sticker" and media.sticker_emoji:
            pairs.append(("sticker_emoji", json_string(media.sticker_emoji)))
        if media.kind == "audio_file":
            if media.performer:
                pairs.append(("performer", json_string(media.performer)))
            if media.title:
                pairs.append(("title", json_string(media.title)))
        if media.mime:
            pairs.append(("mime_type", json_string(media.mime)))
        if media.duration:
            pairs.append(("duration_seconds", str(media.duration)))
        if media.width and media.height:
            pairs.append(("width", str(media.width)))
            pairs.append(("height", str(media.height)))
    elif isinstance(media, Contact):
        info = [
            ("first_name", json_string(media.first_name)),
            ("last_name", json_string(media.last_name)),
            ("phone_number", json_string(media.phone)),
        ]
        pairs.append(("contact_information", _json_object(info, level)))
    elif isinstance(media, Location):
        point = [
            ("latitude", number_text(media.latitude)),
            ("longitude", number_text(media.longitude)),
        ]
        pairs.append(("location_information", _json_object(point, level)))
        if media.live_period:
            pairs.append(("live_location_period_seconds", str(media.live_period)))
    elif isinstance(media, Poll):
        answers = [
            _json_object(
                [
                    ("text", json_string(answer.text)),
                    ("voters", str(answer.votes)),
                    ("chosen", "true" if answer.chosen else "false"),
                ],
                level + 1,
            )
            for answer in media.answers
        ]
        poll = [
            ("question", json_string(media.question)),
            ("closed", "true" if media.closed else "false"),
            ("total_voters", str(media.total)),
            ("answers", _json_array(answers, level + 1)),
        ]
        pairs.append(("poll", _json_object(poll, level)))


def _json_action(
    action: Action,
    pairs: list[tuple[str, str]],
    level: int,
    peers: _JsonPeers,
    flavor: Flavor,
) -> None:
    kind = action.type
    if kind in ("create_group", "edit_group_title", "create_channel", "migrate_from_group"):
        pairs.append(("title", json_string(action.title)))
    if kind == "topic_created":
        pairs.append(("title", json_string(action.title)))
    if kind in ("create_group", "invite_members", "remove_members"):
        pairs.append(("members", _json_array([peers.name(p) for p in action.members], level)))
    if kind == "join_group_by_link":
        pairs.append(("inviter", peers.name(action.inviter)))
    if kind == "pin_message" and action.message_id:
        pairs.append(("message_id", str(action.message_id)))
    if kind == "edit_group_photo" and action.photo is not None:
        _json_photo(action.photo, pairs, flavor)
    if kind == "group_call" and action.duration:
        pairs.append(("duration", str(action.duration)))
    if kind == "set_messages_ttl":
        pairs.append(("period", str(action.period)))
    if kind == "edit_chat_theme" and action.emoticon:
        pairs.append(("emoticon", json_string(action.emoticon)))


def _json_reactions(
    reactions: Sequence[Reaction], level: int, clock: Clock, peers: _JsonPeers
) -> str:
    items = []
    for reaction in reactions:
        pairs = [("type", json_string(reaction.type)), ("count", str(reaction.count))]
        if reaction.type == "emoji":
            pairs.append(("emoji", json_string(reaction.emoji)))
        elif reaction.type == "custom_emoji":
            pairs.append(("document_id", json_string(reaction.document_id)))
        if reaction.recent:
            recents = [
                _json_object(
                    [
                        ("from", peers.name(peer)),
                        ("from_id", peers.id(peer)),
                        ("date", json_string(clock.iso(date))),
                    ],
                    level + 4,
                )
                for peer, date in reaction.recent
            ]
            pairs.append(("recent", _json_array(recents, level + 3)))
        items.append(_json_object(pairs, level + 2))
    return _json_array(items, level + 1)


def json_chat_header(chat: Chat, indent: int) -> str:
    pad = "\n" + " " * indent
    head = ""
    if chat.type not in ("saved_messages", "replies", "verification_codes"):
        head = f"{pad}{json_string('name')}: {json_string(chat.name) if chat.name else 'null'},"
    return (
        f'{head}{pad}"type": {json_string(chat.type)},{pad}"id": {chat.json_id()},'
        f'{pad}"messages": ['
    )


def _write_chat_json(chat: Chat, out: TextIO, indent: int) -> int:
    """Write the chat object's members (after its "{") and return the message count."""
    clock = Clock(chat.utc_offset, chat.zone_label)
    out.write(json_chat_header(chat, indent))
    item_pad = "\n" + " " * (indent + 1)
    count = 0
    for message in chat.messages:
        out.write(("," if count else "") + item_pad)
        out.write(json_message(message, indent + 1, clock, chat.flavor))
        count += 1
    out.write("\n" + " " * indent + "]\n" + " " * (indent - 1) + "}")
    return count


def write_json(chat: Chat, out: TextIO) -> int:
    """Stream a single-chat ``result.json``; returns the number of messages written."""
    out.write("{")
    return _write_chat_json(chat, out, 1)


def render_json(chat: Chat) -> str:
    buffer = io.StringIO()
    write_json(chat, buffer)
    return buffer.getvalue()


def render_account_json(account: Account) -> str:
    """A full-account ``result.json``: about, personal information, chats, left chats."""
    out = io.StringIO()
    personal = [
        ("user_id", str(account.user_id)),
        ("first_name", json_string(account.first_name)),
        ("last_name", json_string(account.last_name)),
        ("phone_number", json_string(account.phone)),
        ("username", json_string("@" + account.username) if account.username else ""),
        ("bio", json_string(account.bio) if account.bio else ""),
    ]
    out.write("{\n " + json_string("about") + ": " + json_string(ABOUT_ACCOUNT))
    out.write(',\n "personal_information": ' + _json_object(personal, 1))
    for key, about, chats in (
        ("chats", ABOUT_CHATS, account.chats),
        ("left_chats", ABOUT_LEFT_CHATS, account.left_chats),
    ):
        if not chats:
            continue
        out.write(f',\n "{key}": {{\n  "about": {json_string(about)},\n  "list": [')
        for index, chat in enumerate(chats):
            out.write(("," if index else "") + "\n   {")
            _write_chat_json(chat, out, 4)
        out.write("\n  ]\n }")
    out.write("\n}")
    return out.getvalue()
