"""Building the report directory: query, draw, write; only changed chats are redrawn.

``report.json`` beside the pages records each chat page's data signature (row count and
latest update of its messages), its zone and the report version; a chat whose signature is
unchanged keeps its page, so the report after an ingest of one chat redraws that chat
only. Every file is written to a temporary name and renamed, so a browser open on the
report never sees half a page.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from tg_pipeline.errors import TgPipelineError
from tg_pipeline.readers.workers import pool_context
from tg_pipeline.report import page
from tg_pipeline.warehouse import report_queries as q
from tg_pipeline.warehouse.report_queries import ChatSummary, ChatZone

#: Bumped when pages change shape, so old pages are redrawn.
REPORT_VERSION = 1
INDEX = "index.html"
MANIFEST = "report.json"
PAGE_PREFIX = "chat-"
#: Drawing is matplotlib in Python, one core per process: with this many pages or more to
#: draw, worker processes (each importing matplotlib once) are worth their start.
PAGES_PER_WORKER = 4


@dataclass(frozen=True)
class ChatPage:
    summary: ChatSummary
    zone: ChatZone
    path: Path
    top_sender: str | None
    top_sender_messages: int
    busiest_day: str | None


@dataclass
class ReportResult:
    index: Path
    pages: list[ChatPage] = field(default_factory=list)
    drawn: int = 0
    seconds: float = 0.0
    #: The part of ``seconds`` spent in DuckDB's aggregations.
    query_seconds: float = 0.0

    @property
    def messages(self) -> int:
        return sum(p.summary.messages for p in self.pages)


def page_name(chat_id: int) -> str:
    return f"{PAGE_PREFIX}{chat_id}.html"


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _entry(summary: ChatSummary, zone: ChatZone, detail: q.ChatDetail) -> dict[str, object]:
    """What the manifest keeps of a drawn page, so an unchanged chat needs no query."""
    top = next((s for s in detail.senders if s[0] is not None), None)
    return {
        "key": _key(summary, zone),
        "top_sender": top[1] if top else None,
        "top_sender_messages": top[2] if top else 0,
        "busiest_day": detail.busiest_day[0].isoformat() if detail.busiest_day else None,
    }


def _load_manifest(out: Path) -> dict[str, dict[str, object]]:
    try:
        data = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != REPORT_VERSION:
        return {}
    chats = data.get("chats")
    if not isinstance(chats, dict):
        return {}
    return {k: v for k, v in chats.items() if isinstance(v, dict)}


def _key(summary: ChatSummary, zone: ChatZone) -> str:
    return f"{summary.signature}|{summary.name}|{zone.label}|{zone.zone}|{zone.offset_s}"


@dataclass
class ReportPlan:
    """What the warehouse said, enough to write the report without it."""

    out: Path
    summaries: list[ChatSummary]
    zones: Mapping[int, ChatZone]
    details: dict[int, q.ChatDetail]
    previous: dict[str, dict[str, object]]
    whole: bool
    started: float
    query_seconds: float


def plan_report(
    con: duckdb.DuckDBPyConnection,
    out: Path,
    zones_for: ZoneLookup,
    *,
    chats: Sequence[str] | None = None,
) -> ReportPlan:
    """Run the report's queries for the chats whose pages in ``out`` are missing or stale.

    ``chats`` narrows the report to chat ids or names; without it every chat is included.
    """
    started = time.perf_counter()
    chat_ids: list[int] | None = None
    if chats:
        try:
            chat_ids = q.resolve_chats(con, chats)
        except LookupError as missing:
            raise TgPipelineError(f"no chat with id or name {missing.args[0]!r}") from None
    summaries = [s for s in q.chat_summaries(con, chat_ids) if s.messages or s.service]
    zones = zones_for([s.chat_id for s in summaries])
    previous = _load_manifest(out)
    stale = [
        s
        for s in summaries
        if (previous.get(str(s.chat_id)) or {}).get("key") != _key(s, zones[s.chat_id])
        or not (out / page_name(s.chat_id)).exists()
    ]
    details = q.chat_details(con, stale, zones)
    return ReportPlan(
        out=out,
        summaries=summaries,
        zones=zones,
        details=details,
        previous=previous,
        whole=not chats,
        started=started,
        query_seconds=time.perf_counter() - started,
    )


def write_report(plan: ReportPlan) -> ReportResult:
    """Draw the stale pages, write the index and the manifest; a whole report also drops
    pages of chats no longer in the warehouse."""
    out = plan.out
    out.mkdir(parents=True, exist_ok=True)
    result = ReportResult(index=out / INDEX, query_seconds=plan.query_seconds)
    entries: dict[str, dict[str, object]] = {}
    drawn = _drawn_charts(plan)
    for summary in plan.summaries:
        zone = plan.zones[summary.chat_id]
        target = out / page_name(summary.chat_id)
        detail = plan.details.get(summary.chat_id)
        if detail is not None:
            charts = next(drawn)
            _write(target, page.chat_page(summary, detail, zone, charts))
            result.drawn += 1
            entry = _entry(summary, zone, detail)
        else:
            entry = plan.previous[str(summary.chat_id)]
        entries[str(summary.chat_id)] = entry
        top_sender = entry.get("top_sender")
        busiest_day = entry.get("busiest_day")
        result.pages.append(
            ChatPage(
                summary=summary,
                zone=zone,
                path=target,
                top_sender=str(top_sender) if top_sender is not None else None,
                top_sender_messages=int(str(entry.get("top_sender_messages") or 0)),
                busiest_day=str(busiest_day) if busiest_day is not None else None,
            )
        )
    rows = [(p.summary, p.path.name, p.zone) for p in result.pages]
    _write(result.index, page.index_page(rows, datetime.now(UTC)))
    kept = entries if plan.whole else {**plan.previous, **entries}
    if plan.whole:
        names = {page_name(s.chat_id) for s in plan.summaries}
        for old in out.glob(f"{PAGE_PREFIX}*.html"):
            if old.name not in names:
                old.unlink(missing_ok=True)
    _write(out / MANIFEST, json.dumps({"version": REPORT_VERSION, "chats": kept}, indent=1))
    result.seconds = time.perf_counter() - plan.started
    return result


_Job = tuple[ChatSummary, "q.ChatDetail", str]


def _draw(job: _Job) -> dict[str, str]:
    # matplotlib is imported only when a page is drawn, not by every process that loads
    # the definitions (webserver, daemon, sensors, the CLI).
    from tg_pipeline.report.charts import chat_charts

    summary, detail, zone_label = job
    return chat_charts(summary, detail, zone_label)


def _drawn_charts(plan: ReportPlan) -> Iterator[dict[str, str]]:
    """The charts of every chat page to draw, in ``plan.summaries`` order, drawn on every
    core when there are enough pages to share."""
    jobs: list[_Job] = [
        (s, plan.details[s.chat_id], plan.zones[s.chat_id].label)
        for s in plan.summaries
        if s.chat_id in plan.details
    ]
    workers = min(os.cpu_count() or 1, len(jobs) // PAGES_PER_WORKER)
    if workers < 2:
        yield from map(_draw, jobs)
        return
    with ProcessPoolExecutor(workers, mp_context=pool_context()) as pool:
        yield from pool.map(_draw, jobs)


def build_report(
    con: duckdb.DuckDBPyConnection,
    out: Path,
    zones_for: ZoneLookup,
    *,
    chats: Sequence[str] | None = None,
) -> ReportResult:
    """Write ``index.html`` and one page per chat into ``out``; returns what was written."""
    return write_report(plan_report(con, out, zones_for, chats=chats))


class ZoneLookup:
    """Each chat's zone (see :mod:`tg_pipeline.report.zones`), bound to a warehouse."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        raw_dir: Path,
        *,
        zone: str | None = None,
        default_zone: str = "UTC",
    ) -> None:
        self.con = con
        self.raw_dir = raw_dir
        self.zone = zone
        self.default_zone = default_zone

    def __call__(self, chat_ids: Sequence[int]) -> Mapping[int, ChatZone]:
        from tg_pipeline.report.zones import chat_zones

        return chat_zones(
            chat_ids,
            q.html_chat_dumps(self.con) if not self.zone else [],
            self.raw_dir,
            zone=self.zone,
            default_zone=self.default_zone,
        )
