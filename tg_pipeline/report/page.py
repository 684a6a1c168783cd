"""The report's HTML: an index of chats and one page per chat, self-contained.

Pages carry their style inline and their charts as inline SVG; nothing is loaded from
elsewhere, and no script runs (a Content-Security-Policy says so to the browser as well).
Every name and text from the warehouse passes through :func:`html.escape`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta, timezone, tzinfo
from html import escape
from zoneinfo import ZoneInfo

from tg_pipeline.warehouse.report_queries import ChatDetail, ChatSummary, ChatZone

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

_STYLE = """
body { font-family: "DejaVu Sans", Arial, sans-serif, "Noto Color Emoji", "Apple Color Emoji",
       "Segoe UI Emoji"; margin: 0; color: #222; background: #fafafa; }
header { background: #24476b; color: #fff; padding: 14px 28px; }
header a { color: #cfe3ff; }
header h1 { margin: 4px 0 0; font-size: 22px; overflow-wrap: anywhere; }
main { padding: 18px 28px; max-width: 1280px; }
.layout { display: flex; gap: 28px; align-items: flex-start; flex-wrap: wrap; }
.numbers { flex: 0 0 260px; background: #fff; border: 1px solid #ddd; border-radius: 6px;
           padding: 12px 16px; }
.numbers dt { color: #666; font-size: 13px; margin-top: 10px; }
.numbers dd { margin: 2px 0 0; font-size: 18px; font-weight: bold; overflow-wrap: anywhere; }
.charts { flex: 1 1 640px; min-width: 0; }
figure { margin: 0 0 22px; background: #fff; border: 1px solid #ddd; border-radius: 6px;
         padding: 10px; }
figure svg { max-width: 100%; height: auto; display: block; }
figcaption { color: #555; font-size: 13px; margin-top: 4px; }
table { border-collapse: collapse; background: #fff; }
th, td { border-bottom: 1px solid #ddd; padding: 6px 12px; text-align: left; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: #555; font-size: 13px; }
"""


def _doc(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"{body}\n</body>\n</html>\n"
    )


def chat_title(summary: ChatSummary) -> str:
    return summary.name or f"chat {summary.chat_id}"


def _when(value: datetime | None, zone: ChatZone) -> str:
    if value is None:
        return "–"
    return value.astimezone(_tzinfo(zone)).strftime("%Y-%m-%d %H:%M")


def _tzinfo(zone: ChatZone) -> tzinfo:
    return ZoneInfo(zone.zone) if zone.zone else timezone(timedelta(seconds=zone.offset_s))


def _day(value: tuple[date, int] | None) -> str:
    if value is None:
        return "–"
    day, count = value
    return f"{day.isoformat()} ({count:,})"


def _share(part: int, whole: int) -> str:
    return f"{part:,} ({100.0 * part / whole:.1f}%)" if whole else f"{part:,}"


_ZONE_NOTES = {
    "html export": "the UTC offset written in the chat's HTML export",
    "given": "the zone given for this report",
    "default": "the configured default zone (the export carries no zone)",
}


def headline(summary: ChatSummary, detail: ChatDetail, zone: ChatZone) -> list[tuple[str, str]]:
    """The numbers shown beside the charts, as (label, value) in display order."""
    return [
        ("Messages", f"{summary.messages:,}"),
        ("Senders", f"{summary.senders:,}"),
        ("First message", _when(summary.first_at, zone)),
        ("Last message", _when(summary.last_at, zone)),
        ("Busiest day", _day(detail.busiest_day)),
        ("Replies", _share(summary.replies, summary.messages)),
        ("Forwards", _share(summary.forwards, summary.messages)),
        ("With media", _share(summary.with_media, summary.messages)),
        ("Service entries", f"{summary.service:,}"),
        ("Time zone", zone.label),
    ]


_CAPTIONS = {
    "senders": "Real messages only; service entries (joins, pins, calls) are not counted.",
    "activity": "The most active senders by name, everyone else as “others”.",
    "heatmap": "Darker cells: more messages in that hour of that weekday.",
    "content": "Shares of all messages; a message can be both a reply and a forward.",
}


def chat_page(
    summary: ChatSummary, detail: ChatDetail, zone: ChatZone, charts: Mapping[str, str]
) -> str:
    title = chat_title(summary)
    numbers = "\n".join(
        f"<dt>{escape(label)}</dt><dd>{escape(value)}</dd>"
        for label, value in headline(summary, detail, zone)
    )
    figures = "\n".join(
        f'<figure id="{escape(name)}">{svg}<figcaption>{escape(_CAPTIONS[name])}'
        "</figcaption></figure>"
        for name, svg in charts.items()
    )
    zone_note = _ZONE_NOTES.get(zone.source, zone.source)
    body = (
        f'<header><a href="index.html">All chats</a>\n<h1>{escape(title)}</h1></header>\n'
        "<main>\n"
        f'<div class="layout">\n<dl class="numbers">\n{numbers}\n</dl>\n'
        f'<div class="charts">\n{figures}\n</div>\n</div>\n'
        f'<p class="note">Chat id {summary.chat_id}'
        f"{' · ' + escape(summary.type) if summary.type else ''}. "
        f"Local times are in {escape(zone.label)}: {escape(zone_note)}.</p>\n"
        "</main>"
    )
    return _doc(f"{title} – chat report", body)


def index_page(rows: Sequence[tuple[ChatSummary, str, ChatZone]], generated_at: datetime) -> str:
    """The list of chats; ``rows`` holds each summary with its page's file name."""
    lines = []
    for summary, href, zone in rows:
        lines.append(
            "<tr>"
            f'<td><a href="{escape(href)}">{escape(chat_title(summary))}</a></td>'
            f'<td class="n">{summary.messages:,}</td>'
            f'<td class="n">{summary.senders:,}</td>'
            f"<td>{escape(_when(summary.first_at, zone))}</td>"
            f"<td>{escape(_when(summary.last_at, zone))}</td>"
            f"<td>{escape(zone.label)}</td>"
            "</tr>"
        )
    table = (
        '<table>\n<thead><tr><th>Chat</th><th class="n">Messages</th>'
        '<th class="n">Senders</th><th>First message</th><th>Last message</th>'
        "<th>Time zone</th></tr></thead>\n<tbody>\n" + "\n".join(lines) + "\n</tbody>\n</table>"
    )
    total = sum(s.messages for s, _, _ in rows)
    body = (
        "<header><h1>Chat report</h1></header>\n<main>\n"
        f"<p>{len(rows):,} chat(s), {total:,} messages. Generated "
        f"{generated_at.strftime('%Y-%m-%d %H:%M UTC')}.</p>\n{table}\n</main>"
    )
    return _doc("Chat report", body)
