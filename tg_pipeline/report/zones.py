"""Which time zone each chat's report reads local times in.

The warehouse keeps instants only. A JSON export carries unixtimes and no zone at all; an
HTML export writes every title as local time with the exporter's UTC offset
(``31.08.2022 12:01:45 UTC+03:00``). So a chat that came in as HTML is shown at that
offset, read from the kept raw copy of its latest HTML dump; any other chat is shown in
the configured zone (``TG_DEFAULT_ZONE``, UTC unless set). A zone given explicitly
(``tg-pipeline report --zone``) applies to every chat.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tg_pipeline.errors import TgPipelineError
from tg_pipeline.warehouse.report_queries import ChatZone

#: The offset suffix of a message's date title, as tdesktop writes it.
_TITLE_OFFSET = re.compile(
    rb'title="\d\d\.\d\d\.\d{4} \d\d:\d\d:\d\d (?:UTC|GMT)([+-])(\d\d):?(\d\d)'
)
#: A title appears within the first few messages of a page.
_HEAD_BYTES = 256 * 1024


def named_zone(name: str, source: str) -> ChatZone:
    """An IANA zone, refused with a clear message when it is unknown."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TgPipelineError(
            f"unknown time zone {name!r}; use an IANA name such as Europe/Berlin"
        ) from exc
    return ChatZone(name, zone=name, source=source)


def offset_zone(offset_s: int) -> ChatZone:
    sign = "-" if offset_s < 0 else "+"
    hours, minutes = divmod(abs(offset_s) // 60, 60)
    return ChatZone(f"UTC{sign}{hours:02d}:{minutes:02d}", offset_s=offset_s, source="html export")


def html_offset(raw_copy: Path) -> int | None:
    """The UTC offset written in the first dated title of a raw HTML copy, if any."""
    for page in sorted(raw_copy.rglob("messages*.html")):
        try:
            with page.open("rb") as handle:
                head = handle.read(_HEAD_BYTES)
        except OSError:
            continue
        found = _TITLE_OFFSET.search(head)
        if found:
            sign, hours, minutes = found.groups()
            seconds = int(hours) * 3600 + int(minutes) * 60
            return -seconds if sign == b"-" else seconds
    return None


def chat_zones(
    chat_ids: Iterable[int],
    html_dumps: Iterable[tuple[int, str]],
    raw_dir: Path,
    *,
    zone: str | None = None,
    default_zone: str = "UTC",
) -> dict[int, ChatZone]:
    """Each chat's zone; ``html_dumps`` lists (chat_id, dump_id), newest dump first."""
    ids = list(chat_ids)
    if zone:
        given = named_zone(zone, "given")
        return dict.fromkeys(ids, given)
    fallback = named_zone(default_zone, "default")
    zones: dict[int, ChatZone] = {}
    wanted = set(ids)
    for chat_id, dump_id in html_dumps:
        if chat_id not in wanted or chat_id in zones:
            continue
        offset = html_offset(raw_dir / dump_id / "files")
        if offset is not None:
            zones[chat_id] = offset_zone(offset)
    return {i: zones.get(i, fallback) for i in ids}
