"""One ``messages*.html`` page to normalized records: the unit of work of the HTML reader.

A page is parsed on its own (in a worker process when there are several), so everything
that depends on earlier pages is left open and described instead of guessed:

- a joined message at the top of the page takes its sender from the last message of an
  earlier page, so its row index and the fields it inherits are listed in
  :attr:`PageResult.pending_senders`;
- a service entry before the page's first dated message has no time to borrow on the page,
  so it is listed in :attr:`PageResult.pending_times`.

The parent process fills both in while it streams pages in order (``html_export``).

Service entries carry no time in HTML. One takes the instant of the record before it; when
a day separator lies between them and its midnight is later, it takes that midnight
instead (in the page's UTC offset, or ``default_zone`` when the titles carry none). A
service entry with no record before it takes its day separator's midnight; one with neither
(no tdesktop page has that) takes the next dated record's instant.
A service entry's ``text`` is its English sentence, the only form HTML has of it (JSON
writes an empty text and the action's fields instead).
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NamedTuple

import pyarrow as pa
from selectolax.lexbor import LexborHTMLParser, LexborNode

from tg_pipeline.errors import DumpError, TgPipelineError
from tg_pipeline.readers.html_media import read_media, read_reactions
from tg_pipeline.readers.html_service import classify_service
from tg_pipeline.readers.html_text import plain_text, read_text
from tg_pipeline.readers.timeparse import offset_to_epoch, wall_to_epoch, zone
from tg_pipeline.records import BatchBuilder

#: Real pages hold 1000 entries (a few MB). Anything past this is not a tdesktop page, and
#: reading it whole would let one file take unbounded memory.
MAX_PAGE_BYTES = 64 * 1024 * 1024

#: Fields a joined message shares with the message before it.
SENDER_FIELDS = ("sender_name", "via_bot")
FORWARD_FIELDS = ("forwarded_from",)

NO_HISTORY = "HTML with no message history (not a Telegram Desktop messages page)"

_ID = re.compile(r"message(-?\d+)")
_TITLE = re.compile(
    r"\s*(\d{1,2})\.(\d{1,2})\.(\d{4}) (\d{1,2}):(\d{2})(?::(\d{2}))?"
    r"(?:\s*(?:UTC|GMT)(?:([+-])(\d{1,2})(?::?(\d{2}))?)?)?\s*"
)
_VIA = re.compile(r"\s+via\s+@([A-Za-z0-9_]+)\s*$")
#: Migrated basic-group messages have negative ids, so links to them carry a minus sign.
_REPLY = re.compile(r"go_to_message(-?\d+)|GoToMessage\((-?\d+)\)")
_MONTHS = {
    name: number
    for number, name in enumerate(
        (
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ),
        start=1,
    )
}
_SEPARATOR = re.compile(r"\s*(\d{1,2}) ([A-Z][a-z]+) (\d{4})\s*")
#: A reply to a message of another chat: tdesktop writes no link and no id for it.
_OTHER_CHAT_REPLY = "In reply to a message in another chat"
#: What tdesktop writes, with a day separator's id, into a single-chat export with no messages.
_NO_MESSAGES = "No exported messages"
#: Old-group messages of a migrated supergroup are exported with ids shifted down by this.
MIGRATED_SHIFT = 1_000_000_000
#: Day separators count down from -1 per chat, one per day and page, so they stay far
#: above the migrated ids. An entry in this range whose text is no date (an anonymised
#: page, say) is still a separator.
SEPARATOR_IDS = 1_000_000


@dataclass(slots=True)
class PageResult:
    """A parsed page plus what the parent must fill in from earlier pages."""

    path: str
    batch: pa.RecordBatch | None
    #: (row index, fields to inherit from the previous message, source position)
    pending_senders: list[tuple[int, tuple[str, ...]]] = field(default_factory=list)
    #: sender/via/forward state after the page's last message; a missing key means
    #: every message on the page inherited it from an earlier page
    tail_state: dict[str, str | None] = field(default_factory=dict)
    #: (row index, midnight of the page's latest day separator before it or None, position)
    pending_times: list[tuple[int, int | None, str]] = field(default_factory=list)
    first_instant: int | None = None
    last_instant: int | None = None
    last_separator: int | None = None
    #: The neighbours the page's "Previous messages" / "Next messages" links name.
    previous_page: str | None = None
    next_page: str | None = None


class _Title(NamedTuple):
    epoch: int
    source: str
    offset: int | None


class _PageReader:
    """State of one page while its elements are read in order."""

    def __init__(self, path: str, default_zone: str, chat_id: int | None) -> None:
        self.path = path
        self.default_zone = default_zone
        self.chat_id = chat_id
        self.chat_name: str | None = None
        self.position = "page"
        self.offset: int | None = None
        self.decode_note: str | None = None
        self.rows: list[dict[str, Any]] = []
        self.state: dict[str, str | None] = {}
        self.pending_senders: list[tuple[int, tuple[str, ...]]] = []
        self.previous_page: str | None = None
        self.next_page: str | None = None
        #: (row index, separator date before it) of every service entry
        self.services: list[tuple[int, tuple[int, int, int] | None]] = []
        self.separator: tuple[int, int, int] | None = None
        #: (DD.MM.YYYY, suffix) -> midnight of that day at the title's fixed offset
        self.day_cache: dict[tuple[str, str], _Title] = {}

    def fail(self, message: str) -> DumpError:
        return DumpError(message, file=self.path, position=self.position)

    # -- dates -------------------------------------------------------------------------

    def parse_title(self, title: str) -> _Title:
        """Instant of a date title; the day part is cached, a page has few distinct days."""
        if (
            len(title) >= 19
            and title[10] == " "
            and title[13] == ":"
            and title[16] == ":"
            and title[11:13].isdigit()
            and title[14:16].isdigit()
            and title[17:19].isdigit()
        ):
            day = self.day_cache.get((title[:10], title[19:]))
            if day is not None:
                hour, minute, second = int(title[11:13]), int(title[14:16]), int(title[17:19])
                if hour < 24 and minute < 60 and second < 61:
                    seconds = hour * 3600 + minute * 60 + second
                    return _Title(day.epoch + seconds, day.source, day.offset)
        return self._parse_title_slow(title)

    def _parse_title_slow(self, title: str) -> _Title:
        match = _TITLE.fullmatch(title)
        if match is None:
            raise self.fail(f"date title {title!r} is not DD.MM.YYYY HH:MM:SS[ UTC±hh:mm]")
        day, month, year, hour, minute, second, sign, off_h, off_m = match.groups()
        parts = (int(year), int(month), int(day), int(hour), int(minute), int(second or 0))
        try:
            date(parts[0], parts[1], parts[2])
            if parts[3] > 23 or parts[4] > 59 or parts[5] > 60:
                raise ValueError("time out of range")
            if sign is None and "UTC" not in title and "GMT" not in title:
                epoch = wall_to_epoch(*parts, self.default_zone)
                if match.start(4) == 11 and match.end(6) == 19:
                    first = wall_to_epoch(*parts[:3], 0, 0, 0, self.default_zone)
                    last = wall_to_epoch(*parts[:3], 23, 59, 59, self.default_zone)
                    if last - first == 86399:  # no clock change that day
                        self.day_cache[(title[:10], title[19:])] = _Title(first, "assumed", None)
                return _Title(epoch, "assumed", None)
            offset = 0
            if sign is not None:
                offset = int(off_h) * 3600 + int(off_m or 0) * 60
                if offset > 18 * 3600:
                    raise ValueError("UTC offset out of range")
                if sign == "-":
                    offset = -offset
            epoch = offset_to_epoch(*parts, offset)
        except (ValueError, OverflowError) as exc:
            raise self.fail(f"date title {title!r} is not a valid date: {exc}") from None
        except TgPipelineError as exc:
            raise self.fail(str(exc)) from None
        if match.start(4) == 11 and match.end(6) == 19:
            # Canonical DD.MM.YYYY HH:MM:SS layout: later titles of this day take the fast path.
            midnight = epoch - parts[3] * 3600 - parts[4] * 60 - parts[5]
            self.day_cache[(title[:10], title[19:])] = _Title(midnight, "html_offset", offset)
        return _Title(epoch, "html_offset", offset)

    def midnight(self, day: tuple[int, int, int]) -> int:
        if self.offset is not None:
            return offset_to_epoch(*day, 0, 0, 0, self.offset)
        return wall_to_epoch(*day, 0, 0, 0, self.default_zone)

    # -- entries -----------------------------------------------------------------------

    def base_row(self, message_id: int, kind: str) -> dict[str, Any]:
        row: dict[str, Any] = {
            "chat_id": self.chat_id,
            "chat_name": self.chat_name,
            "message_id": message_id,
            "kind": kind,
            "source_file": self.path,
            "source_position": self.position,
            "extra": {},
        }
        if self.decode_note:
            row["extra"]["html_decode"] = self.decode_note
        if -MIGRATED_SHIFT < message_id < 0:
            row["extra"]["migrated_group_message_id"] = message_id + MIGRATED_SHIFT
        return row

    def read_separator(self, node: LexborNode) -> bool:
        """Take a day separator's date; False when the entry is no separator.

        Separators and the old-group entries of a migrated supergroup both have negative
        ids, so an entry is a separator by its content: a date and nothing else.
        """
        text = node.text(deep=True)
        match = _SEPARATOR.fullmatch(text)
        if match is None:
            return text.strip() == _NO_MESSAGES
        month = _MONTHS.get(match.group(2))
        if month is None:
            return False
        day = (int(match.group(3)), month, int(match.group(1)))
        try:
            date(*day)
        except ValueError:
            return False
        self.separator = day
        return True

    def read_service(self, node: LexborNode, message_id: int) -> None:
        body = None
        photo = None
        for child in node.iter():
            classes = child.attributes.get("class") or ""
            if classes.startswith("body"):
                body = child
            elif "userpic_wrap" in classes:
                anchor = child.css_first("a[href]")
                if anchor is not None:
                    photo = anchor.attributes.get("href")
        text = plain_text(body if body is not None else node)
        link_node = (body if body is not None else node).css_first("a[href]")
        link = link_node.attributes.get("href") if link_node is not None else None
        info = classify_service(text, link)
        row = self.base_row(message_id, "service")
        # JSON exports give service entries an empty text; HTML's English sentence is kept
        # in extra so both formats agree on `text` and nothing is lost.
        row["text"] = ""
        row["entities"] = []
        if text:
            row["extra"]["service_text"] = text
        row["action"] = info.action
        row["actor"] = info.actor
        row["time_source"] = "inferred"
        row["sent_at"] = 0
        row["extra"].update(info.extra)
        if photo:
            # A new group photo: the JSON export names it under `photo` like any media.
            row["media_type"] = "photo"
            row["media_path"] = photo
        self.services.append((len(self.rows), self.separator))
        self.rows.append(row)

    def read_from_name(self, node: LexborNode) -> tuple[str, str | None, str | None]:
        """Name, ``@via_bot`` and the forward-date title of a ``div.from_name``.

        A forward header ends in a ``span`` holding the forward date: ``class="date
        details"`` with the full title in newer pages, ``class="details"`` with the date
        only as its text in pages written before about 2022.
        """
        parts: list[str] = []
        forward_title = None
        for child in node.iter(include_text=True):
            tag = child.tag
            if tag == "-text":
                parts.append(child.text_content or "")
            elif tag == "-comment":
                continue
            elif "details" in (child.attributes.get("class") or "").split():
                forward_title = child.attributes.get("title") or child.text(deep=True).strip()
            else:
                parts.append(child.text(deep=True))
        name = "".join(parts).strip()
        via = None
        match = _VIA.search(name)
        if match is not None:
            via = "@" + match.group(1)
            name = name[: match.start()].strip()
        return name, via, forward_title

    def read_body(self, body: LexborNode, row: dict[str, Any], forwarded: bool) -> None:
        extra = row["extra"]
        for child in body.iter():
            classes = child.attrs.get("class") or ""
            first = classes.partition(" ")[0]
            if first == "text":
                row["text"], row["entities"] = read_text(child)
            elif first == "pull_right":
                row["_title"] = child.attributes.get("title")
            elif first == "from_name":
                name, via, forward_title = self.read_from_name(child)
                if forwarded:
                    row["forwarded_from"] = name
                    if via is not None:
                        row["via_bot"] = via
                    if forward_title:
                        stamp = self.parse_title(forward_title)
                        extra["forwarded_date"] = _iso(stamp, self.default_zone)
                else:
                    row["sender_name"] = name
                    row["via_bot"] = via
                    row["_has_from"] = True
            elif first == "forwarded":
                row["_forwarded"] = True
                self.read_body(child, row, forwarded=True)
            elif first == "reply_to":
                link = child.css_first("a")
                target = None
                if link is not None:
                    attrs = link.attributes
                    found = _REPLY.search(attrs.get("onclick") or "") or _REPLY.search(
                        attrs.get("href") or ""
                    )
                    if found is not None:
                        target = int(found.group(1) or found.group(2))
                if target is not None:
                    row["reply_to_message_id"] = target
                else:
                    said = plain_text(child)
                    if said == _OTHER_CHAT_REPLY:
                        # JSON names the other chat; HTML only says there is one.
                        extra["reply_to_peer_id"] = None
                    else:
                        extra["reply_to"] = said
            elif first == "media_wrap":
                media_type, media_path, media_extra = read_media(child)
                row["media_type"] = media_type
                row["media_path"] = media_path
                extra.update(media_extra)
            elif first == "signature":
                row["author"] = plain_text(child)
            elif first == "reactions":
                row["reactions"] = read_reactions(child)
            elif first == "pull_left" or first == "userpic_wrap":
                continue
            elif classes or child.tag not in ("div", "span"):
                other = extra.setdefault("html_other", [])
                other.append({"class": classes, "text": plain_text(child)})

    def read_default(self, node: LexborNode, message_id: int) -> None:
        row = self.base_row(message_id, "message")
        row["text"] = ""
        body = None
        for child in node.iter():
            if (child.attrs.get("class") or "").startswith("body"):
                body = child
                break
        if body is None:
            raise self.fail("message without a body")
        self.read_body(body, row, forwarded=False)
        title = row.pop("_title", None)
        if not title:
            raise self.fail("message without a date title")
        stamp = self.parse_title(title)
        if self.offset is None and stamp.offset is not None:
            self.offset = stamp.offset
        row["sent_at"] = stamp.epoch
        row["time_source"] = stamp.source

        state = self.state
        missing: list[str] = []
        if row.pop("_has_from", False):
            state["sender_name"] = row["sender_name"]
            state["via_bot"] = row["via_bot"]
        elif "sender_name" in state:
            row["sender_name"] = state["sender_name"]
            row.setdefault("via_bot", state["via_bot"])
        else:
            missing.extend(SENDER_FIELDS)
        if row.pop("_forwarded", False):
            if "forwarded_from" in row:
                state["forwarded_from"] = row["forwarded_from"]
            elif "forwarded_from" in state:
                row["forwarded_from"] = state["forwarded_from"]
            else:
                missing.extend(FORWARD_FIELDS)
        else:
            state["forwarded_from"] = None
        if missing:
            self.pending_senders.append((len(self.rows), tuple(missing)))

        if "call" in row["extra"]:
            # tdesktop writes a phone call as a dated message; JSON calls it a service
            # entry with action phone_call, so it is one here too.
            row["kind"] = "service"
            row["action"] = "phone_call"
            row["actor"] = row.pop("sender_name", None)
            del row["extra"]["call"]
        self.rows.append(row)

    def read(self, data: bytes) -> PageResult:
        if b"history" not in data:
            raise self.fail(NO_HISTORY)
        # lexbor parses UTF-8 bytes itself; decoding to str first would hold two more copies
        # of the page, which matters for pathological multi-megabyte pages.
        bad = first_invalid_utf8(data)
        if bad is None:
            tree = LexborHTMLParser(data)
        else:
            self.decode_note = f"invalid UTF-8 replaced with U+FFFD (first at byte {bad})"
            tree = LexborHTMLParser(data.decode("utf-8", errors="replace"))
        history = tree.css_first("div.history")
        if history is None:
            raise self.fail(NO_HISTORY)
        elements = history.css("div.message")
        if not elements:
            raise self.fail(NO_HISTORY)
        header = tree.css_first(".page_header .text.bold")
        if header is not None:
            self.chat_name = header.text(deep=True).strip() or None
        for link in history.css("a.pagination"):
            label = link.text(deep=True).strip().lower()
            href = (link.attributes.get("href") or "").partition("#")[0]
            if label.startswith("previous"):
                self.previous_page = href or None
            elif label.startswith("next"):
                self.next_page = href or None
        for index, node in enumerate(elements, start=1):
            attrs = node.attributes
            raw_id = attrs.get("id") or ""
            self.position = f"element {index} ({raw_id or 'no id'})"
            match = _ID.fullmatch(raw_id)
            if match is None:
                raise self.fail(f"message element id {raw_id!r} is not message<integer>")
            message_id = int(match.group(1))
            classes = (attrs.get("class") or "").split()
            if "service" in classes:
                if message_id >= 0 or not (
                    self.read_separator(node) or message_id > -SEPARATOR_IDS
                ):
                    self.read_service(node, message_id)
            else:
                self.read_default(node, message_id)
        self.position = "page"
        return self.finish()

    def finish(self) -> PageResult:
        result = PageResult(
            path=self.path,
            batch=None,
            pending_senders=self.pending_senders,
            tail_state=self.state,
            previous_page=self.previous_page,
            next_page=self.next_page,
        )
        rows = self.rows
        services = iter(self.services)
        next_service = next(services, None)
        current: int | None = None
        for index, row in enumerate(rows):
            if next_service is not None and next_service[0] == index:
                separator = next_service[1]
                midnight = self.midnight(separator) if separator is not None else None
                if current is None:
                    result.pending_times.append((index, midnight, row["source_position"]))
                else:
                    if midnight is not None and midnight > current:
                        current = midnight
                    row["sent_at"] = current
                next_service = next(services, None)
            else:
                current = row["sent_at"]
                if result.first_instant is None:
                    result.first_instant = current
        result.last_instant = current
        if self.separator is not None:
            result.last_separator = self.midnight(self.separator)
        builder = BatchBuilder(batch_size=len(rows) + 1)
        for row in rows:
            builder.append(row)
        result.batch = builder.flush()
        return result


def _iso(stamp: _Title, default_zone: str) -> str:
    """The instant with the offset it was written in (the assumed zone's when none)."""
    if stamp.offset is None:
        return datetime.fromtimestamp(stamp.epoch, zone(default_zone)).isoformat()
    written_in = timezone(timedelta(seconds=stamp.offset))
    return datetime.fromtimestamp(stamp.epoch, written_in).isoformat()


def read_page_bytes(path: Path) -> bytes:
    """The page's bytes, refusing sizes no tdesktop page has before reading them."""
    try:
        size = path.stat().st_size
        if size > MAX_PAGE_BYTES:
            raise DumpError(
                f"page is {size} bytes; HTML pages over {MAX_PAGE_BYTES} bytes are refused",
                file=path,
                position="page",
            )
        with path.open("rb") as handle:
            data = handle.read(MAX_PAGE_BYTES + 1)
    except OSError as exc:
        raise DumpError(f"cannot read page: {exc.strerror or exc}", file=path) from None
    if len(data) > MAX_PAGE_BYTES:
        raise DumpError(
            f"page grew past {MAX_PAGE_BYTES} bytes while reading", file=path, position="page"
        )
    return data


def first_invalid_utf8(data: bytes, chunk: int = 1 << 20) -> int | None:
    """Offset of the first byte that is not valid UTF-8, checked a chunk at a time."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    for start in range(0, len(data), chunk):
        try:
            decoder.decode(view[start : start + chunk], final=start + chunk >= len(data))
        except UnicodeDecodeError as exc:
            return start + exc.start
    return None


def parse_page(path: str, default_zone: str, chat_id: int | None) -> PageResult:
    """Read one page; raises :class:`DumpError` naming the file and element on bad input."""
    reader = _PageReader(path, default_zone, chat_id)
    data = read_page_bytes(Path(path))
    try:
        return reader.read(data)
    except DumpError:
        raise
    except Exception as exc:
        raise DumpError(
            f"cannot read element: {type(exc).__name__}: {exc}",
            file=path,
            position=reader.position,
        ) from exc


def parse_page_job(
    path: str, default_zone: str, chat_id: int | None
) -> tuple[str, PageResult | tuple[str, str | None, str | None]]:
    """Worker-process entry: errors come back as data so file and position survive."""
    try:
        return "ok", parse_page(path, default_zone, chat_id)
    except DumpError as exc:
        return "error", (exc.message, exc.file, exc.position)
    except MemoryError:
        return "error", ("out of memory while reading the page", path, None)
