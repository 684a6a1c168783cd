"""Building the report: names stay text, unchanged chats are not redrawn, zones are found."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

from tg_pipeline.errors import TgPipelineError
from tg_pipeline.report import ZoneLookup, build, build_report
from tg_pipeline.report.zones import chat_zones, html_offset
from tg_pipeline.warehouse import Warehouse
from tg_pipeline_tests.report_tests.browser import (
    assert_png,
    counting_proxy,
    offline_page,
    svg_texts,
)
from tg_pipeline_tests.warehouse_tests.builders import batches, dump, json_row

HOSTILE_CHAT = "<img src=x onerror=alert(1)> **chat** </svg>"
HOSTILE_SENDERS = (
    "<script>alert('x')</script>",
    "</svg><b>bold?</b>",
    "**not bold** _nor italic_ [link](http://example.invalid) | pipe",
    "$x^2$ costs $5 & \\frac{a}{b}",
)


def _hostile(warehouse: Warehouse) -> None:
    rows = [
        json_row(
            i,
            chat_name=HOSTILE_CHAT,
            sender_id=f"user{i % 4}",
            sender_name=HOSTILE_SENDERS[i % 4],
            media_type="<svg onload=alert(1)>" if i == 3 else None,
        )
        for i in range(1, 9)
    ]
    warehouse.ingest(batches(rows), dump=dump("hostile"))


def _build(warehouse: Warehouse, out: Path, **kwargs):
    return build_report(warehouse.con, out, ZoneLookup(warehouse.con, out / "no-raw"), **kwargs)


def test_names_appear_literally_and_never_as_markup(tmp_path: Path) -> None:
    out = tmp_path / "report"
    with Warehouse.open(tmp_path / "w.duckdb") as warehouse:
        _hostile(warehouse)
        result = _build(warehouse, out)
    page_file = result.pages[0].path
    html = page_file.read_text(encoding="utf-8")
    index = result.index.read_text(encoding="utf-8")

    for text in (html, index):
        assert "<script" not in text and "<img" not in text and "<b>" not in text
    # Four inline charts, each closed once: no name ended an <svg> early.
    assert html.count("<svg") == html.count("</svg>") == 4
    assert "&lt;script&gt;alert(" in html and "&lt;img src=x onerror=alert(1)&gt;" in index

    requested: list[str] = []
    with counting_proxy() as proxy, offline_page(proxy) as page:
        page.on("request", lambda request: requested.append(request.url))
        page.on("dialog", lambda dialog: pytest.fail(f"a dialog opened: {dialog.message}"))
        page.goto(result.index.as_uri())
        assert HOSTILE_CHAT in page.inner_text("table")
        page.goto(page_file.as_uri())
        page.screenshot(path=str(tmp_path / "hostile.png"), full_page=True)
        assert page.inner_text("h1") == HOSTILE_CHAT
        assert page.title() == f"{HOSTILE_CHAT} – chat report"
        assert page.eval_on_selector_all("script, img, b", "nodes => nodes.length") == 0
        labels = svg_texts(page, "#senders")
        for name in HOSTILE_SENDERS:
            shown = name if len(name) <= 28 else name[:27] + "…"
            assert shown in labels.splitlines(), labels
        assert "<svg onload=alert(1…" in svg_texts(page, "#content")
        assert "$x^2$ costs $5 & \\frac{a}{b}" in svg_texts(page, "#activity")
        assert page.eval_on_selector_all("svg", "nodes => nodes.length") == 4
    assert proxy.requests == []
    assert all(url.startswith("file://") for url in requested), requested
    assert_png(tmp_path / "hostile.png")


def test_only_changed_chats_are_redrawn_and_gone_chats_removed(tmp_path: Path) -> None:
    out = tmp_path / "report"
    with Warehouse.open(tmp_path / "w.duckdb") as warehouse:
        warehouse.ingest(
            batches([json_row(1), json_row(2), json_row(1, chat_id=2002, chat_name="B")]),
            dump=dump("d1"),
        )
        first = _build(warehouse, out)
        assert (first.drawn, len(first.pages)) == (2, 2)
        page_b = out / "chat-2002.html"
        before = page_b.stat().st_mtime_ns

        again = _build(warehouse, out)
        assert again.drawn == 0
        assert [(p.top_sender, p.top_sender_messages) for p in again.pages] == [
            (p.top_sender, p.top_sender_messages) for p in first.pages
        ]

        warehouse.ingest(batches([json_row(3)]), dump=dump("d2"))
        changed = _build(warehouse, out)
        assert changed.drawn == 1 and page_b.stat().st_mtime_ns == before
        assert "<dt>Messages</dt><dd>3</dd>" in (out / "chat-1001.html").read_text()

        only = _build(warehouse, tmp_path / "only", chats=["b"])
        assert [p.summary.chat_id for p in only.pages] == [2002]
        with pytest.raises(TgPipelineError, match="no chat with id or name 'zzz'"):
            _build(warehouse, out, chats=["zzz"])

        warehouse.con.execute("DELETE FROM messages WHERE chat_id = 2002")
        gone = _build(warehouse, out)
    assert [p.summary.chat_id for p in gone.pages] == [1001]
    assert not page_b.exists()
    assert sorted(p.name for p in out.iterdir()) == ["chat-1001.html", "index.html", "report.json"]


@pytest.mark.slow
def test_many_pages_are_drawn_in_worker_processes_exactly_as_in_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chats = 2 * build.PAGES_PER_WORKER
    rows = [
        json_row(m, chat_id=3000 + c, chat_name=f"Chat {c}", sender_name=f"P{c}-{m % 3}")
        for c in range(chats)
        for m in range(1, 4 + c)
    ]
    with Warehouse.open(tmp_path / "w.duckdb") as warehouse:
        warehouse.ingest(batches(rows), dump=dump("many"))
        monkeypatch.setattr(build.os, "cpu_count", lambda: 2)
        parallel = _build(warehouse, tmp_path / "parallel")
        monkeypatch.setattr(build.os, "cpu_count", lambda: 1)
        serial = _build(warehouse, tmp_path / "serial")
    assert parallel.drawn == serial.drawn == chats
    for a, b in zip(parallel.pages, serial.pages, strict=True):
        assert a.path.name == b.path.name
        assert a.path.read_text(encoding="utf-8") == b.path.read_text(encoding="utf-8")


def test_glyphs_missing_from_the_chart_font_raise_no_warning(tmp_path: Path) -> None:
    rows = [
        json_row(i, chat_name="漢字 \x1b[2J chat", sender_name="送信者 🎉 \x1b[2J")
        for i in range(1, 4)
    ]
    with Warehouse.open(tmp_path / "w.duckdb") as warehouse:
        warehouse.ingest(batches(rows), dump=dump("glyphs"))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = _build(warehouse, tmp_path / "report")
    assert result.drawn == 1
    assert [str(w.message) for w in caught if "Glyph" in str(w.message)] == []


def test_zone_comes_from_the_html_export_or_the_default(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    files = raw / "dump-html" / "files" / "ChatExport"
    files.mkdir(parents=True)
    (files / "messages.html").write_text(
        '<div class="pull_right date details" title="31.08.2022 12:01:45 UTC-05:30">12:01</div>'
    )
    assert html_offset(raw / "dump-html" / "files") == -(5 * 3600 + 30 * 60)
    zones = chat_zones(
        [1, 2],
        [(1, "dump-html"), (2, "dump-missing")],
        raw,
        default_zone="Europe/Berlin",
    )
    assert (zones[1].label, zones[1].offset_s, zones[1].source) == (
        "UTC-05:30",
        -19800,
        "html export",
    )
    assert (zones[2].label, zones[2].zone, zones[2].source) == (
        "Europe/Berlin",
        "Europe/Berlin",
        "default",
    )
    given = chat_zones([1, 2], [(1, "dump-html")], raw, zone="Asia/Tokyo")
    assert {z.label for z in given.values()} == {"Asia/Tokyo"}
    with pytest.raises(TgPipelineError, match="unknown time zone"):
        chat_zones([1], [], raw, default_zone="Nowhere/Special")
    assert re.fullmatch(r"UTC\+00:00", chat_zones([3], [(3, "z")], _gmt(raw))[3].label)


def _gmt(raw: Path) -> Path:
    files = raw / "z" / "files"
    files.mkdir(parents=True)
    (files / "messages.html").write_text('title="01.02.2021 00:00:00 GMT+00:00"')
    return raw
