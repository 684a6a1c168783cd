"""``messages*.html`` pages exactly as tdesktop's HtmlWriter writes them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from tg_pipeline_tests.synthetic.formats import (
    Clock,
    duration_text,
    file_size,
    number_text,
    thumb_path,
)
from tg_pipeline_tests.synthetic.model import (
    COLOR_MAP,
    Action,
    Chat,
    Contact,
    Document,
    Location,
    Message,
    Part,
    Peer,
    Photo,
    Poll,
    Reaction,
    text_parts,
)

INTERNAL_LINKS_DOMAIN = "https://t.me/"
JOIN_WITHIN_SECONDS = 900
MESSAGES_PER_PAGE = 1000
NOT_INCLUDED_HTML = "Not included, change data exporting settings to download."


_HTML_TABLE = {
    ord("\n"): "<br>",
    ord('"'): "&quot;",
    ord("&"): "&amp;",
    ord("'"): "&apos;",
    ord("<"): "&lt;",
    ord(">"): "&gt;",
    0x2028: "<br>",
    0x2029: "<br>",
}
_HTML_TABLE.update({c: f"&#x{c:02X};" for c in range(32) if c != 10})


_HTML_SPECIAL = re.compile("[\x00-\x1f\"&'<>\u2028\u2029]")


def html_string(value: str) -> str:
    """tdesktop's HTML SerializeString (newlines become ``<br>``)."""
    if _HTML_SPECIAL.search(value) is None:
        return value
    return value.translate(_HTML_TABLE)


_INDENTS = [" " * n for n in range(64)]


class _Context:
    """HtmlContext: block tags get a newline and the depth in spaces on both sides."""

    __slots__ = ("_tags",)

    def __init__(self) -> None:
        self._tags: list[tuple[str, bool]] = []

    @property
    def depth(self) -> int:
        return len(self._tags)

    def push(
        self,
        tag: str,
        attrs: Iterable[tuple[str, str]] = (),
        *,
        inline: bool = False,
        empty: bool = False,
    ) -> str:
        inner = "".join(f' {key}="{html_string(value)}"' for key, value in sorted(attrs))
        text = f"<{tag}{inner}{'/' if empty else ''}>"
        if not inline:
            text = "\n" + _INDENTS[len(self._tags)] + text + "\n"
        if not empty:
            self._tags.append((tag, not inline))
        return text

    def div(self, css: str, style: str = "") -> str:
        attrs = [("class", css), ("style", style)] if style else [("class", css)]
        return self.push("div", attrs)

    def pop(self) -> str:
        tag, block = self._tags.pop()
        if block:
            return "\n" + _INDENTS[len(self._tags)] + f"</{tag}>\n"
        return f"</{tag}>"

    def close_all(self) -> str:
        return "".join(self.pop() for _ in range(len(self._tags)))


def _initial(name: str) -> str:
    stripped = name.strip()
    if not stripped:
        return ""
    first = stripped[0]
    return "?" if ord(first) > 0xFFFF else html_string(first)


def _userpic(ctx: _Context, first: str, last: str, color: str, size: int, tip: str = "") -> str:
    px = f"{size}px"
    out = ctx.push("div", [("class", f"userpic {color}"), ("style", f"width: {px}; height: {px}")])
    attrs = [("class", "initials"), ("style", f"line-height: {px}")]
    if tip:
        attrs.append(("title", tip))
    out += ctx.push("div", attrs)
    out += _initial(first) + _initial(last)
    return out + ctx.pop() + ctx.pop()


def _names(source: Peer | str) -> tuple[str, str]:
    """FillUserpicNames: a user's two names, a chat's title, or a split forward name."""
    if isinstance(source, Peer):
        if source.kind == "user":
            return source.first_name, source.last_name
        return source.name, ""
    words = source.split(" ")
    return words[0], " ".join(word for word in words[1:] if word)


def _compose(first: str, last: str) -> str:
    return f"{first} {last}" if (first or last) else "Deleted Account"


def _service_name(peer: Peer | None) -> str:
    return html_string(peer.name) if peer is not None and peer.name else "Deleted"


def _user_name(peer: Peer | None) -> str:
    return html_string(peer.name) if peer is not None and peer.name else "Deleted Account"


def _name_list(names: Sequence[str]) -> str:
    if not names:
        return ""
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]


def format_text(parts: Sequence[Part], base: str = "") -> str:
    """FormatText: each piece with tdesktop's markup, joined without separators."""
    out = []
    for part in parts:
        text = html_string(part.text)
        kind = part.type
        if kind in ("plain", "bank_card"):
            out.append(text)
        elif kind == "mention":
            out.append(f'<a href="{INTERNAL_LINKS_DOMAIN}{text[1:]}">{text}</a>')
        elif kind in ("hashtag", "bot_command", "cashtag"):
            func = {"hashtag": "ShowHashtag", "bot_command": "ShowBotCommand"}.get(
                kind, "ShowCashtag"
            )
            arg = html_string('"' + text[1:] + '"')
            out.append(f'<a href="" onclick="return {func}({arg})">{text}</a>')
        elif kind == "link":
            out.append(f'<a href="{text}">{text}</a>')
        elif kind == "email":
            out.append(f'<a href="mailto:{text}">{text}</a>')
        elif kind == "phone":
            out.append(f'<a href="tel:{text}">{text}</a>')
        elif kind == "bold":
            out.append(f"<strong>{text}</strong>")
        elif kind == "italic":
            out.append(f"<em>{text}</em>")
        elif kind == "code":
            out.append(f"<code>{text}</code>")
        elif kind == "pre":
            out.append(f"<pre>{text}</pre>")
        elif kind == "text_link":
            out.append(f'<a href="{html_string(part.additional)}">{text}</a>')
        elif kind == "mention_name":
            out.append(f'<a href="" onclick="return ShowMentionName()">{text}</a>')
        elif kind == "underline":
            out.append(f"<u>{text}</u>")
        elif kind == "strikethrough":
            out.append(f"<s>{text}</s>")
        elif kind == "blockquote":
            out.append(f"<blockquote>{text}</blockquote>")
        elif kind == "spoiler":
            out.append(
                '<span class="spoiler hidden" onclick="ShowSpoiler(this)">'
                f'<span aria-hidden="true">{text}</span></span>'
            )
        elif kind == "custom_emoji":
            out.append(_custom_emoji(part.additional, text, base))
        else:
            out.append(text)
    return "".join(out)


def _custom_emoji(document: str, text: str, base: str) -> str:
    if not document:
        return f'<a href="" onclick="return ShowNotLoadedEmoji();">{text}</a>'
    return f'<a href = "{base}{document}">{text}</a>'


def _thumb_size(width: int, height: int, max_side: int, retina: bool) -> tuple[int, int]:
    """CalculateThumbSize: fit into max_side x max_side, even sizes, at least 80x80."""
    factor = 2 if retina else 1
    if width * factor > max_side or height * factor > max_side:
        scaled_w = height and max_side * width // height
        if scaled_w <= max_side:
            width, height = scaled_w, max_side
        else:
            width, height = max_side, width and max_side * height // width
    width &= ~1
    height &= ~1
    if width < 80 or height < 80:
        return 0, 0
    return width, height


def page_start(ctx: _Context, title: str, base: str = "", back: str = "") -> str:
    """``composeStart`` and ``pushHeader``: everything up to a page's body.

    ``base`` leads from the page's folder to the export's top (``../../`` for a chat of a
    whole-account export); ``back`` is the page the header links back to, if any.
    """
    out = "<!DOCTYPE html>" + ctx.push("html") + ctx.push("head")
    out += ctx.push("meta", [("charset", "utf-8")], empty=True)
    out += ctx.push("title", inline=True) + "Exported Data" + ctx.pop()
    out += ctx.push(
        "meta",
        [("name", "viewport"), ("content", "width=device-width, initial-scale=1.0")],
        empty=True,
    )
    out += ctx.push("link", [("href", base + "css/style.css"), ("rel", "stylesheet")], empty=True)
    out += ctx.push("script", [("src", base + "js/script.js"), ("type", "text/javascript")])
    out += ctx.pop() + ctx.pop()
    out += ctx.push("body", [("onload", "CheckLocation();")]) + ctx.div("page_wrap")
    out += ctx.div("page_header")
    if back:
        attrs = [
            ("class", "content block_link"),
            ("href", base + back),
            ("onclick", "return GoBack(this)"),
        ]
        out += ctx.push("a", attrs)
    else:
        out += ctx.div("content")
    return out + ctx.div("text bold") + html_string(title) + ctx.pop() + ctx.pop() + ctx.pop()


@dataclass(frozen=True, slots=True)
class _Info:
    """HtmlWriter::MessageInfo: what the next message is compared with for joining."""

    id: int
    default: bool
    from_id: str | None
    via_bot: str | None
    date: int
    forwarded_id: str | None
    forwarded_name: str | None
    forwarded: bool
    forwarded_date: int


class HtmlChatWriter:
    """HtmlWriter's chat part: pages, date separators, joined runs and message links."""

    def __init__(
        self, chat: Chat, folder: Path, per_page: int, base: str = "", back: str = ""
    ) -> None:
        self.chat = chat
        self.folder = folder
        self.per_page = per_page
        #: ``../../`` for a chat of a whole-account export, whose pages sit two folders down;
        #: ``back`` is then the chat list the page header links to.
        self.base = base
        self.back = back
        self.clock = Clock(chat.utc_offset, chat.zone_label)
        self.flavor = chat.flavor
        self.count = 0
        self.date_id = 0
        self.last_ids: list[int] = []
        self.previous: _Info | None = None
        self.pages: list[Path] = []
        self.ctx = _Context()
        self._out: TextIO | None = None
        self._page = 0
        self._is_channel = chat.type in ("private_channel", "public_channel")

    @staticmethod
    def page_name(index: int) -> str:
        return "messages.html" if index == 0 else f"messages{index + 1}.html"

    def _open(self, index: int) -> None:
        path = self.folder / self.page_name(index)
        self.pages.append(path)
        self._out = path.open("w", encoding="utf-8", newline="\n")
        ctx = self.ctx = _Context()
        chat = self.chat
        title = (
            _compose(chat.name, chat.last_name)
            if (chat.name or chat.last_name)
            else ("Deleted Account")
        )
        head = page_start(ctx, title, self.base, self.back)
        head += ctx.div("page_body chat_page") + ctx.div("history")
        if index > 0:
            head += ctx.push(
                "a", [("class", "pagination block_link"), ("href", self.page_name(index - 1))]
            )
            head += "Previous messages" + ctx.pop()
        self._out.write(head)

    def _close_page(self, next_index: int | None) -> None:
        assert self._out is not None
        tail = ""
        if next_index is not None:
            tail = self.ctx.push(
                "a", [("class", "pagination block_link"), ("href", self.page_name(next_index))]
            )
            tail += "Next messages" + self.ctx.pop()
        self._out.write(tail + self.ctx.close_all())
        self._out.close()
        self._out = None

    def add(self, message: Message) -> None:
        index = self.count // self.per_page
        if self._out is None:
            self._open(index)
        elif index != self._page:
            assert self.previous is not None
            self.last_ids.append(self.previous.id)
            self._close_page(index)
            self.previous = None
            self._page = index
            self._open(index)
        out = self._out
        assert out is not None
        previous = self.previous
        if previous is None or self.clock.day(message.date) != self.clock.day(previous.date):
            self.date_id -= 1
            out.write(self._service(self.date_id, self.clock.day_text(message.date)))
        info, block = self._message(message, previous)
        out.write(block)
        self.previous = info
        self.count += 1

    def finish(self) -> list[Path]:
        if self._out is None:
            self._open(0)
            self.date_id -= 1
            assert self._out is not None
            self._out.write(self._service(self.date_id, "No exported messages"))
        self._close_page(None)
        return self.pages

    # -- pieces

    def link(self, message_id: int, text: str) -> str:
        for index, last_id in enumerate(self.last_ids):
            if message_id <= last_id:
                return f'<a href="{self.page_name(index)}#go_to_message{message_id}">{text}</a>'
        return (
            f'<a href="#go_to_message{message_id}" '
            f'onclick="return GoToMessage({message_id})">{text}</a>'
        )

    def _service(self, message_id: int, text: str, photo: Photo | None = None) -> str:
        ctx = self.ctx
        out = ctx.push("div", [("class", "message service"), ("id", f"message{message_id}")])
        out += ctx.div("body details") + text + ctx.pop()
        if photo is not None and photo.path:
            out += ctx.div("userpic_wrap")
            out += ctx.push("a", [("class", "userpic_link"), ("href", photo.path)])
            out += ctx.push(
                "img",
                [
                    ("class", "userpic"),
                    ("style", "width: 60px; height: 60px"),
                    ("src", thumb_path(photo.path)),
                ],
                empty=True,
            )
            out += ctx.pop() + ctx.pop()
        return out + ctx.pop()

    def _service_text(self, message: Message, action: Action) -> str:
        actor = _service_name(message.sender)
        kind = action.type
        title = html_string(action.title)
        channel = self._is_channel
        if kind == "create_group":
            members = _name_list([_user_name(p) for p in action.members])
            tail = f" with members {members}" if members else ""
            return f"{actor} created group &laquo;{title}&raquo;{tail}"
        if kind == "edit_group_title":
            if channel:
                return f"Channel title changed to &laquo;{title}&raquo;"
            return f"{actor} changed group title to &laquo;{title}&raquo;"
        if kind == "edit_group_photo":
            return "Channel photo changed" if channel else f"{actor} changed group photo"
        if kind == "delete_group_photo":
            return "Channel photo removed" if channel else f"{actor} removed group photo"
        if kind == "invite_members":
            return f"{actor} invited " + _name_list([_user_name(p) for p in action.members])
        if kind == "remove_members":
            removed = action.members[0] if action.members else None
            return f"{actor} removed {_user_name(removed)}"
        if kind == "join_group_by_link":
            return f"{actor} joined group by link from {_user_name(action.inviter)}"
        if kind == "create_channel":
            return f"Channel &laquo;{title}&raquo; created"
        if kind == "migrate_to_supergroup":
            return f"{actor} converted this group to a supergroup"
        if kind == "migrate_from_group":
            return f"{actor} converted a basic group to this supergroup &laquo;{title}&raquo;"
        if kind == "pin_message":
            return f"{actor} pinned " + self.link(action.message_id or 0, "this message")
        if kind == "clear_history":
            return "History cleared"
        if kind == "group_call":
            tail = f" ({action.duration} seconds)" if action.duration else ""
            return f"Voice chat{tail}" if channel else f"{actor} started voice chat{tail}"
        if kind == "set_messages_ttl":
            period = {7 * 86400: "7 days", 86400: "24 hours"}.get(action.period, "")
            if channel:
                if action.period:
                    return "New messages will auto-delete in " + period
                return "New messages will not auto-delete"
            if action.period:
                return f"{actor} has set messages to auto-delete in {period}"
            return f"{actor} has set messages not to auto-delete"
        if kind == "joined_telegram":
            return f"{actor} joined Telegram"
        if kind == "take_screenshot":
            return f"{actor} took a screenshot"
        if kind == "topic_created":
            return f"{actor} created topic &laquo;{title}&raquo;"
        if kind == "edit_chat_theme":
            if not action.emoticon:
                return "Channel theme was disabled" if channel else f"{actor} disabled chat theme"
            if channel:
                return f"Channel theme was changed to {action.emoticon}"
            return f"{actor} changed chat theme to {action.emoticon}"
        raise ValueError(f"no HTML text for action {kind!r}")

    def _needs_wrap(self, message: Message, previous: _Info | None) -> bool:
        if previous is None or not previous.default:
            return True
        sender = message.sender
        if sender is None or previous.from_id != sender.peer_id:
            return True
        via = message.via_bot.peer_id if message.via_bot else None
        if via != previous.via_bot:
            return True
        if self.clock.day(previous.date) != self.clock.day(message.date):
            return True
        fwd_id, fwd_name = _forward_keys(message)
        if (
            (message.forwarded_from is not None) != previous.forwarded
            or fwd_id != previous.forwarded_id
            or fwd_name != previous.forwarded_name
        ):
            return True
        limit = 1 if (fwd_id or fwd_name) else JOIN_WITHIN_SECONDS
        return abs(message.date - previous.date) > limit

    def _forward_needs_wrap(self, message: Message, previous: _Info | None) -> bool:
        if self._needs_wrap(message, previous):
            return True
        assert previous is not None
        fwd_id, _ = _forward_keys(message)
        if not fwd_id or fwd_id != previous.forwarded_id:
            return True
        if not fwd_id.startswith("user"):
            return True
        return abs((message.forwarded_date or 0) - previous.forwarded_date) > JOIN_WITHIN_SECONDS

    def _message(self, message: Message, previous: _Info | None) -> tuple[_Info, str]:
        fwd_id, fwd_name = _forward_keys(message)
        info = _Info(
            id=message.id,
            default=message.action is None and not message.unsupported,
            from_id=message.sender.peer_id if message.sender else None,
            via_bot=message.via_bot.peer_id if message.via_bot else None,
            date=message.date,
            forwarded_id=fwd_id,
            forwarded_name=fwd_name,
            forwarded=message.forwarded_from is not None,
            forwarded_date=message.forwarded_date or 0,
        )
        if message.unsupported:
            text = (
                "This message is not supported by this version of Telegram Desktop. "
                "Please update the application."
            )
            return info, self._service(message.id, text)
        if message.action is not None:
            photo = message.action.photo if message.action.type == "edit_group_photo" else None
            text = self._service_text(message, message.action)
            return info, self._service(message.id, text, photo)
        return info, self._default(message, previous)

    def _default(self, message: Message, previous: _Info | None) -> str:
        ctx = self.ctx
        clock = self.clock
        suffix = self.flavor.zone_suffix
        wrap = self._needs_wrap(message, previous)
        sender = message.sender
        first, last = _names(sender) if sender is not None else ("", "")
        color = sender.color_class() if sender is not None else "userpic1"
        via = message.via_bot.username if message.via_bot else ""
        css = "message default clearfix" if wrap else "message default clearfix joined"
        out = ctx.push("div", [("class", css), ("id", f"message{message.id}")])
        if wrap:
            out += ctx.div("pull_left userpic_wrap") + _userpic(ctx, first, last, color, 42)
            out += ctx.pop()
        out += ctx.div("body")
        out += ctx.push(
            "div",
            [("class", "pull_right date details"), ("title", clock.title(message.date, suffix))],
        )
        out += clock.hhmm(message.date) + ctx.pop()
        forwarded = message.forwarded_from
        if wrap:
            out += ctx.div("from_name") + html_string(_compose(first, last))
            if via and forwarded is None:
                out += " via @" + html_string(via)
            out += ctx.pop()
        if forwarded is not None:
            fwd_first, fwd_last = _names(forwarded)
            if self._forward_needs_wrap(message, previous):
                fwd_color = (
                    forwarded.color_class()
                    if isinstance(forwarded, Peer)
                    else f"userpic{COLOR_MAP[message.id % 7] + 1}"
                )
                out += ctx.div("pull_left forwarded userpic_wrap")
                out += _userpic(ctx, fwd_first, fwd_last, fwd_color, 42) + ctx.pop()
                out += ctx.div("forwarded body") + ctx.div("from_name")
                out += html_string(_compose(fwd_first, fwd_last))
                if via:
                    out += " via @" + html_string(via)
                fwd_date = message.forwarded_date or message.date
                if self.flavor.forward_date_title:
                    span = [("class", "date details"), ("title", clock.title(fwd_date, suffix))]
                else:
                    span = [("class", "details")]
                out += ctx.push("span", span, inline=True)
                out += " " + clock.title(fwd_date, False) + ctx.pop() + ctx.pop()
            else:
                out += ctx.div("forwarded body")
        if message.reply_to and message.reply_to_peer is not None:
            out += ctx.div("reply_to details") + "In reply to a message in another chat"
            out += ctx.pop()
        elif message.reply_to:
            out += ctx.div("reply_to details") + "In reply to "
            out += self.link(message.reply_to, "this message") + ctx.pop()
        if message.media is not None:
            out += self._media(message)
        text = format_text(text_parts(message.parts))
        if text:
            out += ctx.div("text") + text + ctx.pop()
        if message.author:
            out += ctx.div("signature details") + html_string(message.author) + ctx.pop()
        if forwarded is not None:
            out += ctx.pop()
        if message.reactions:
            out += self._reactions(message.reactions)
        return out + ctx.pop() + ctx.pop()

    def _reactions(self, reactions: Sequence[Reaction]) -> str:
        ctx = self.ctx
        tag = self.flavor.reactions_tag
        out = ctx.push(tag, [("class", "reactions")])
        for reaction in reactions:
            css = "reaction paid" if reaction.type == "paid" else "reaction"
            out += ctx.push(tag, [("class", css)]) + ctx.push(tag, [("class", "emoji")])
            if reaction.type == "emoji":
                out += html_string(reaction.emoji)
            elif reaction.type == "custom_emoji":
                out += _custom_emoji(reaction.document_id, "\U0001f44b", "")
            else:
                out += html_string("\u2b50")
            out += ctx.pop()
            if reaction.recent:
                out += ctx.push(tag, [("class", "userpics")])
                for peer, _ in reaction.recent:
                    first, last = _names(peer)
                    out += _userpic(ctx, first, last, peer.color_class(), 20, peer.name)
                out += ctx.pop()
            if not reaction.recent or reaction.count > len(reaction.recent):
                out += ctx.push(tag, [("class", "count")]) + str(reaction.count) + ctx.pop()
            out += ctx.pop()
        return out + ctx.pop()

    # -- media

    def _generic(
        self,
        classes: str,
        title: str,
        description: str = "",
        status: str = "",
        link: str = "",
        thumb: str = "",
    ) -> str:
        ctx = self.ctx
        out = ctx.div("media_wrap clearfix")
        if link:
            out += ctx.push(
                "a", [("class", f"media clearfix pull_left block_link {classes}"), ("href", link)]
            )
        else:
            out += ctx.div(f"media clearfix pull_left {classes}")
        if thumb:
            out += ctx.push("img", [("class", "thumb pull_left"), ("src", thumb)], empty=True)
        else:
            out += ctx.div("fill pull_left") + ctx.pop()
        out += ctx.div("body")
        if title:
            out += ctx.div("title bold") + html_string(title) + ctx.pop()
        if description:
            out += ctx.div("description") + html_string(description) + ctx.pop()
        if status:
            out += ctx.div("status details") + html_string(status) + ctx.pop()
        return out + ctx.pop() + ctx.pop() + ctx.pop()

    def _media(self, message: Message) -> str:
        media = message.media
        ctx = self.ctx
        if isinstance(media, Photo):
            width, height = _thumb_size(media.width, media.height, 520, False)
            if media.path is None or not width:
                status = f"{media.width}\u00d7{media.height}"
                if media.path is None:
                    status += ", " + file_size(media.size)
                return self._generic(
                    "media_photo",
                    "Photo",
                    NOT_INCLUDED_HTML if media.path is None else "",
                    status,
                    media.path or "",
                )
            out = ctx.div("media_wrap clearfix")
            out += ctx.push("a", [("class", "photo_wrap clearfix pull_left"), ("href", media.path)])
            out += ctx.push(
                "img",
                [
                    ("class", "photo"),
                    ("style", f"width: {width // 2}px; height: {height // 2}px"),
                    ("src", thumb_path(media.path)),
                ],
                empty=True,
            )
            return out + ctx.pop() + ctx.pop()
        if isinstance(media, Document):
            return self._document(media)
        if isinstance(media, Contact):
            status = media.phone
            return self._generic(
                "media_contact", f"{media.first_name} {media.last_name}", "", status
            )
        if isinstance(media, Location):
            lat, lon = number_text(media.latitude), number_text(media.longitude)
            coords = f"{lat},{lon}"
            link = f"https://maps.google.com/maps?q={coords}&ll={coords}&z=16"
            if media.live_period:
                return self._generic(
                    "media_live_location", "Live location", "", f"{lat}, {lon}", link
                )
            return self._generic("media_location", "Location", "", f"{lat}, {lon}", link)
        if isinstance(media, Poll):
            return self._poll(media)
        raise TypeError(f"unknown media {media!r}")

    def _document(self, doc: Document) -> str:
        ctx = self.ctx
        has_file = doc.path is not None
        link = doc.path or ""
        description = "" if has_file else NOT_INCLUDED_HTML
        kind = doc.kind
        if kind == "video_message":
            status = duration_text(doc.duration) + ("" if has_file else ", " + file_size(doc.size))
            return self._generic(
                "media_video", "Video message", description, status, link, doc.thumb or ""
            )
        if kind == "voice_message":
            status = duration_text(doc.duration) + ("" if has_file else ", " + file_size(doc.size))
            return self._generic("media_voice_message", "Voice message", description, status, link)
        if kind == "audio_file":
            title = (
                f"{doc.performer} \u2013 {doc.title}"
                if doc.performer and doc.title
                else "Audio file"
            )
            status = duration_text(doc.duration) + ("" if has_file else ", " + file_size(doc.size))
            return self._generic("media_audio_file", title, description, status, link)
        if kind == "file":
            return self._generic(
                "media_file", doc.file_name or "File", description, file_size(doc.size), link
            )
        if kind == "sticker":
            if not has_file:
                status = doc.sticker_emoji
                status = (status + ", " if status else "") + file_size(doc.size)
                return self._generic("media_photo", "Sticker", description, status)
            width, height = _thumb_size(doc.width, doc.height, 384, False)
            out = ctx.div("media_wrap clearfix")
            out += ctx.push("a", [("class", "sticker_wrap clearfix pull_left"), ("href", link)])
            out += ctx.push(
                "img",
                [
                    ("class", "sticker"),
                    ("style", f"width: {width // 2}px; height: {height // 2}px"),
                    ("src", thumb_path(link)),
                ],
                empty=True,
            )
            return out + ctx.pop() + ctx.pop()
        width, height = _thumb_size(doc.width, doc.height, 520, True)
        animated = kind == "animation"
        if not has_file or not doc.thumb or not width:
            if animated:
                return self._generic(
                    "media_video", "Animation", description, file_size(doc.size), link
                )
            status = duration_text(doc.duration) + ("" if has_file else ", " + file_size(doc.size))
            return self._generic("media_video", "Video file", description, status, link)
        wrap = "animated_wrap" if animated else "video_file_wrap"
        out = ctx.div("media_wrap clearfix")
        out += ctx.push("a", [("class", f"{wrap} clearfix pull_left"), ("href", link)])
        out += ctx.div("video_play_bg")
        if animated:
            out += ctx.div("gif_play") + "GIF" + ctx.pop() + ctx.pop()
        else:
            out += ctx.div("video_play") + ctx.pop() + ctx.pop()
            out += ctx.div("video_duration") + duration_text(doc.duration) + ctx.pop()
        out += ctx.push(
            "img",
            [
                ("class", "animated" if animated else "video_file"),
                ("style", f"width: {width // 2}px; height: {height // 2}px"),
                ("src", doc.thumb),
            ],
            empty=True,
        )
        return out + ctx.pop() + ctx.pop()

    def _poll(self, poll: Poll) -> str:
        ctx = self.ctx

        def votes(count: int) -> str:
            if count > 1:
                return f"{count} votes"
            return "1 vote" if count == 1 else "No votes"

        out = ctx.div("media_wrap clearfix") + ctx.div("media_poll")
        out += ctx.div("question bold") + html_string(poll.question) + ctx.pop()
        out += ctx.div("details") + ("Final results" if poll.closed else "Anonymous poll")
        out += ctx.pop()
        for answer in poll.answers:
            detail = ""
            if answer.votes:
                chosen = ", chosen vote" if answer.chosen else ""
                detail = f' <span class="details">{votes(answer.votes)}{chosen}</span>'
            out += ctx.div("answer") + "- " + html_string(answer.text) + detail + ctx.pop()
        out += ctx.div("total details\t") + votes(poll.total) + ctx.pop()
        return out + ctx.pop() + ctx.pop()


def _forward_keys(message: Message) -> tuple[str | None, str | None]:
    forwarded = message.forwarded_from
    if isinstance(forwarded, Peer):
        return forwarded.peer_id, None
    return None, forwarded or None


def write_html_pages(
    chat: Chat,
    folder: Path,
    per_page: int = MESSAGES_PER_PAGE,
    *,
    base: str = "",
    back: str = "",
) -> list[Path]:
    """Write ``messages.html``, ``messages2.html``, … into ``folder``; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    writer = HtmlChatWriter(chat, folder, per_page, base, back)
    for message in chat.messages:
        writer.add(message)
    return writer.finish()
