"""``tg-pipeline report`` on the seed pair, opened from disk in headless Chromium offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from tg_pipeline_tests.cli_tests.conftest import SEED_CHAT_ID, assert_one_line_error, run_cli
from tg_pipeline_tests.conftest import shared_fixture
from tg_pipeline_tests.report_tests.browser import (
    assert_png,
    counting_proxy,
    offline_page,
    svg_texts,
)

pytestmark = pytest.mark.slow

#: The seed's senders and their real messages (service entries are not counted).
SEED_SENDERS = {
    "username8": 3,
    "username4": 2,
    "username3": 2,
    "username7": 1,
    "user1": 1,
    "username5": 1,
}


@pytest.fixture(scope="module")
def seed_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    seed_dir = shared_fixture("chatparser_seed")
    tmp_path = tmp_path_factory.mktemp("seed_report")
    data_dir = tmp_path / "data"
    ingested = run_cli(
        "ingest", str(seed_dir / "messages.html"), str(seed_dir / "result.json"), data_dir=data_dir
    )
    assert ingested.code == 0, str(ingested)
    out = tmp_path / "report"
    made = run_cli("report", "--out", str(out), data_dir=data_dir)
    assert made.code == 0, str(made)
    assert f"{out / 'index.html'}: 1 chat(s), 10 messages" in made.out, str(made)
    return data_dir, out


def test_report_of_the_seed_pair_opens_offline_with_its_charts(
    seed_report: tuple[Path, Path], tmp_path: Path
) -> None:
    _, out = seed_report
    page_file = out / f"chat-{SEED_CHAT_ID}.html"
    assert sorted(p.name for p in out.glob("*.html")) == [page_file.name, "index.html"]

    requested: list[str] = []
    with counting_proxy() as proxy, offline_page(proxy) as page:
        page.on("request", lambda request: requested.append(request.url))
        page.goto((out / "index.html").as_uri())
        page.screenshot(path=str(tmp_path / "index.png"), full_page=True)
        row = page.inner_text("table tbody")
        assert "chat name" in row and "\t10\t6\t" in row, row
        page.click("text=chat name")
        page.wait_for_url(page_file.as_uri())
        page.screenshot(path=str(tmp_path / "chat.png"), full_page=True)

        figures = page.eval_on_selector_all(
            "figure",
            "fs => fs.map(f => [f.id, f.querySelector('svg').getBoundingClientRect().width,"
            " f.querySelector('svg').getBoundingClientRect().height,"
            " f.querySelectorAll('svg path, svg rect, svg use').length])",
        )
        assert [f[0] for f in figures] == ["senders", "activity", "heatmap", "content"]
        for name, width, height, shapes in figures:
            assert width > 300 and height > 100 and shapes > 5, (name, width, height, shapes)

        senders = svg_texts(page, "#senders")
        bars = page.eval_on_selector_all("#senders svg g[id^='patch']", "ps => ps.length")
        assert bars >= len(SEED_SENDERS)
        # Labels (top to bottom) and, beside each bar in the same order, its count.
        lines = senders.splitlines()
        names = [line for line in lines if line in SEED_SENDERS]
        counts = [int(line) for line in lines if line.isdigit()][-len(names) :]
        assert dict(zip(names, counts, strict=True)) == SEED_SENDERS, senders
        activity = svg_texts(page, "#activity")
        assert "username8" in activity and "others" in activity, activity
        assert "UTC+03:00" in svg_texts(page, "#heatmap")
        content = svg_texts(page, "#content")
        assert "2 (20.0%)" in content and "1 (10.0%)" in content, content  # replies, photo

        numbers = page.inner_text(".numbers")
        for expected in (
            "Messages\n10",
            "Senders\n6",
            "First message\n2022-08-31 12:01",
            "Last message\n2022-08-31 12:02",
            "Busiest day\n2022-08-31 (10)",
            "Time zone\nUTC+03:00",
        ):
            assert expected in numbers, numbers

        assert proxy.requests == [], proxy.requests
        assert requested and all(url.startswith("file://") for url in requested), requested
        # The proxy is really in the way: a page that does want the network reaches it.
        response = page.goto("http://example.invalid/", timeout=10_000)
        assert response is not None and response.status == 502
        assert proxy.requests[0] == "GET http://example.invalid/ HTTP/1.1", proxy.requests
    assert_png(tmp_path / "index.png")
    assert_png(tmp_path / "chat.png")


def test_report_for_one_chat_and_errors(seed_report: tuple[Path, Path], tmp_path: Path) -> None:
    data_dir, _ = seed_report
    out = tmp_path / "one"
    made = run_cli(
        "report",
        "--chat",
        "CHAT NAME",
        "--zone",
        "America/New_York",
        "--out",
        str(out),
        data_dir=data_dir,
    )
    assert made.code == 0, str(made)
    page = (out / f"chat-{SEED_CHAT_ID}.html").read_text(encoding="utf-8")
    assert "<dt>Time zone</dt><dd>America/New_York</dd>" in page
    assert "<dt>First message</dt><dd>2022-08-31 05:01</dd>" in page

    missing = run_cli("report", "--chat", "no such chat", "--out", str(out), data_dir=data_dir)
    assert_one_line_error(missing, contains="no chat with id or name 'no such chat'")
    bad_zone = run_cli("report", "--zone", "Mars/Olympus", "--out", str(out), data_dir=data_dir)
    assert_one_line_error(bad_zone, contains="unknown time zone 'Mars/Olympus'")
    empty = run_cli("report", "--out", str(out), data_dir=tmp_path / "nothing")
    assert_one_line_error(empty, contains="no warehouse at")
