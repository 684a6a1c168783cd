"""The chat model the renderers write: peers, text pieces, media, messages, chats.

It holds what tdesktop's export data types hold, and nothing about either format, so one
chat can be written as JSON and as HTML and both compared with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

#: tdesktop's PeerColorIndex map, used for the userpic colour classes.
COLOR_MAP = (0, 7, 4, 1, 6, 3, 5)
#: Peer id shifts of exports from v1.4.8 to v2.6, before ids became "user123"/"channel456".
NUMERIC_SHIFT = {"user": 1 << 32, "chat": 2 << 32, "channel": 2 << 32}

#: Entity types as tdesktop names them in JSON, with the key of their additional value.
ENTITY_TYPES: dict[str, str | None] = {
    "mention": None,
    "hashtag": None,
    "bot_command": None,
    "link": None,
    "email": None,
    "bold": None,
    "italic": None,
    "code": None,
    "pre": "language",
    "text_link": "href",
    "mention_name": "user_id",
    "phone": None,
    "cashtag": None,
    "underline": None,
    "strikethrough": None,
    "blockquote": "collapsed",
    "bank_card": None,
    "spoiler": None,
    "custom_emoji": "document_id",
}


@dataclass(frozen=True, slots=True)
class Peer:
    """A user, bot, basic group ("chat") or channel as the exporter's peer map holds it.

    A rename is modelled as a second ``Peer`` with the same ``kind`` and ``bare_id``: the
    exporter writes whatever name it knew when it wrote the message.
    """

    kind: str
    bare_id: int
    first_name: str = ""
    last_name: str = ""
    username: str = ""

    @property
    def peer_id(self) -> str:
        return f"{self.kind}{self.bare_id}"

    @property
    def name(self) -> str:
        """tdesktop's ``name()``: "First Last", either alone, or "" for a deleted account."""
        if self.first_name and self.last_name:
            return f"{self.first_name} {self.last_name}"
        return self.first_name or self.last_name

    def numeric_id(self) -> int:
        return NUMERIC_SHIFT[self.kind] + self.bare_id

    def color_class(self) -> str:
        return f"userpic{COLOR_MAP[self.bare_id % 7] + 1}"


def user(bare_id: int, first: str, last: str = "", username: str = "") -> Peer:
    return Peer("user", bare_id, first, last, username)


def channel(bare_id: int, title: str, username: str = "") -> Peer:
    return Peer("channel", bare_id, title, "", username)


@dataclass(frozen=True, slots=True)
class Part:
    """One piece of a message text: ``plain`` or an entity type from ``ENTITY_TYPES``.

    ``additional`` is tdesktop's ``TextPart::additional``: the href of a text link, the
    user id of a mention_name, the language of a pre block, the file of a custom emoji,
    or "1" for a collapsed blockquote.
    """

    type: str
    text: str
    additional: str = ""


def plain(text: str) -> Part:
    return Part("plain", text)


def ent(kind: str, text: str, additional: str = "") -> Part:
    if kind not in ENTITY_TYPES:
        raise ValueError(f"unknown entity type {kind!r}")
    return Part(kind, text, additional)


@dataclass(frozen=True, slots=True)
class Photo:
    """A photo; ``path`` None means the export settings left the file out."""

    path: str | None
    width: int
    height: int
    size: int
    spoiler: bool = False


@dataclass(frozen=True, slots=True)
class Document:
    """Any file-backed media: ``kind`` is the JSON ``media_type`` or "file" for plain files."""

    kind: str
    path: str | None
    size: int
    mime: str
    file_name: str = ""
    duration: int = 0
    width: int = 0
    height: int = 0
    thumb: str | None = None
    thumb_size: int = 0
    sticker_emoji: str = ""
    performer: str = ""
    title: str = ""


@dataclass(frozen=True, slots=True)
class Location:
    latitude: float
    longitude: float
    live_period: int = 0


@dataclass(frozen=True, slots=True)
class Contact:
    first_name: str
    last_name: str
    phone: str


@dataclass(frozen=True, slots=True)
class PollAnswer:
    text: str
    votes: int = 0
    chosen: bool = False


@dataclass(frozen=True, slots=True)
class Poll:
    question: str
    answers: tuple[PollAnswer, ...]
    closed: bool = False

    @property
    def total(self) -> int:
        return sum(answer.votes for answer in self.answers)


Media = Photo | Document | Location | Contact | Poll

MEDIA_KINDS = (
    "photo",
    "video_file",
    "animation",
    "voice_message",
    "audio_file",
    "video_message",
    "sticker",
    "file",
    "location",
    "contact",
    "poll",
)


@dataclass(frozen=True, slots=True)
class Reaction:
    """A reaction: ``emoji`` for ``type="emoji"``; ``recent`` as (peer, epoch) pairs."""

    emoji: str
    count: int
    recent: tuple[tuple[Peer, int], ...] = ()
    type: str = "emoji"
    document_id: str = ""


@dataclass(frozen=True, slots=True)
class Action:
    """A service action with the fields its JSON and HTML forms need.

    ``message_id`` is the pinned message of ``pin_message``; tdesktop stores it as the
    message's reply target, so the HTML links it like a reply.
    """

    type: str
    title: str = ""
    members: tuple[Peer, ...] = ()
    inviter: Peer | None = None
    message_id: int | None = None
    duration: int = 0
    period: int = 0
    emoticon: str = ""
    photo: Photo | None = None


SERVICE_ACTIONS = (
    "create_group",
    "edit_group_title",
    "edit_group_photo",
    "delete_group_photo",
    "invite_members",
    "remove_members",
    "join_group_by_link",
    "create_channel",
    "migrate_from_group",
    "migrate_to_supergroup",
    "pin_message",
    "clear_history",
    "group_call",
    "set_messages_ttl",
    "joined_telegram",
    "take_screenshot",
    "topic_created",
    "edit_chat_theme",
)


@dataclass(slots=True)
class Message:
    """One history entry; a service entry is a message with an ``action``."""

    id: int
    date: int
    sender: Peer | None = None
    parts: tuple[Part, ...] = ()
    action: Action | None = None
    edited: int | None = None
    reply_to: int | None = None
    #: The chat ``reply_to`` lies in when it is another chat than this one.
    reply_to_peer: Peer | None = None
    forwarded_from: Peer | str | None = None
    forwarded_date: int | None = None
    via_bot: Peer | None = None
    author: str = ""
    media: Media | None = None
    reactions: tuple[Reaction, ...] = ()
    unsupported: bool = False

    @property
    def kind(self) -> str:
        return "service" if self.action is not None else "message"

    @property
    def plain_text(self) -> str:
        return "".join(part.text for part in self.parts)


@dataclass(frozen=True, slots=True)
class Flavor:
    """Which tdesktop generation wrote the export; the fields differ between versions."""

    unixtime: bool = True
    text_entities: bool = True
    file_sizes: bool = True
    numeric_ids: bool = False
    zone_suffix: bool = True
    reactions_tag: str = "span"
    blockquote_collapsed: bool = True
    #: HTML forward headers: ``<span class="date details" title=…>`` (True) or, before
    #: about 2022, ``<span class="details">`` with the date as its only text.
    forward_date_title: bool = True


#: tdesktop 5.13 and later: ``span.reactions``, file sizes, ``date_unixtime``.
MODERN = Flavor()
#: 2022-2024 (v4.x-5.12): ``div.reactions``, no ``photo_file_size``/``file_name``/``file_size``.
V2022 = Flavor(file_sizes=False, reactions_tag="div", blockquote_collapsed=False)
#: 2021 (v2.7-3.x): ids like "user123" but no ``date_unixtime``, no ``text_entities`` and
#: no offset in the HTML date titles; reactions did not exist yet.
LEGACY = Flavor(
    unixtime=False,
    text_entities=False,
    file_sizes=False,
    zone_suffix=False,
    blockquote_collapsed=False,
    forward_date_title=False,
)
#: 2019-2020 (v1.4.8-2.6): like ``LEGACY`` with numerically encoded peer ids.
LEGACY_NUMERIC = replace(LEGACY, numeric_ids=True)


@dataclass(slots=True)
class Chat:
    """One exported dialog. ``utc_offset`` (seconds) is the exporting machine's zone.

    ``zone_label`` overrides the HTML title suffix (tdesktop prints the zone's display
    name, e.g. "GMT+00:00" on some systems); None gives "UTC+hh:mm".
    """

    name: str
    type: str
    id: int
    messages: Iterable[Message]
    utc_offset: int = 0
    flavor: Flavor = MODERN
    last_name: str = ""
    zone_label: str | None = None
    peer_kind: str = "channel"

    def json_id(self) -> int:
        if self.flavor.numeric_ids:
            return NUMERIC_SHIFT.get(self.peer_kind, 0) + self.id
        return self.id


@dataclass(slots=True)
class Account:
    """A whole-account export: personal information plus chats and left chats."""

    user_id: int
    first_name: str
    last_name: str
    phone: str
    chats: list[Chat] = field(default_factory=list)
    left_chats: list[Chat] = field(default_factory=list)
    username: str = ""
    bio: str = ""


def text_parts(parts: Sequence[Part]) -> list[Part]:
    """Parts as tdesktop's ParseText yields them, including its trailing empty piece."""
    pieces = [part for part in parts if part.text]
    if pieces and pieces[-1].type != "plain":
        text = "".join(part.text for part in pieces)
        if len(text.encode()) > len(text.encode("utf-16-le")) // 2:
            pieces.append(Part("plain", ""))
    return pieces
