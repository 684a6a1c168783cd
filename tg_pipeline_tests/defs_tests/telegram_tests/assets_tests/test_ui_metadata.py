"""Names and texts from a dump reach the Dagster UI as text: no image, link or markup runs.

A real dagster-webserver ingests an export whose sender, chat and texts hold Markdown and
HTML pointing at a loopback HTTP server of the test's own; headless Chromium then opens the
asset pages that show them (preview, top senders, changed counts). The server must see no
request at all, and the page must show the names literally.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import orjson
import pytest

from tg_pipeline.defs.telegram.assets.metadata import record_table
from tg_pipeline_tests.cli_tests.conftest import cli_env, run_cli
from tg_pipeline_tests.webserver import running_webserver, write_instance_yaml


class _Tracker(BaseHTTPRequestHandler):
    hits: list[str]

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def tracker() -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP server that records every request; yields its base URL and the log."""
    hits: list[str] = []
    handler = type("Tracker", (_Tracker,), {"hits": hits})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def hostile_names(host: str) -> dict[str, str]:
    return {
        "sender": f"![x]({host}/sender.png)",
        "chat": f"[click me]({host}/chat) **bold** <img src={host}/chat-img.png>",
        "text": f'<img src="{host}/text.png"> ![y]({host}/text-md.png) | a | b |',
    }


def write_export(path: Path, names: dict[str, str]) -> Path:
    messages = [
        {
            "id": i,
            "type": "message",
            "date": "2023-01-01T10:00:00",
            "date_unixtime": str(1672567200 + i),
            "from": names["sender"],
            "from_id": "user4242",
            "text": names["text"],
        }
        for i in range(1, 4)
    ]
    export = {"name": names["chat"], "type": "private_group", "id": 6161, "messages": messages}
    path.write_bytes(orjson.dumps(export))
    return path


def test_metadata_tables_hold_names_as_plain_typed_cells() -> None:
    names = hostile_names("http://127.0.0.1:9")
    value = record_table(
        [{"sender": names["sender"] + "\x1b[2J\u202e", "messages": 3}], ("sender", "messages")
    )
    assert isinstance(value, dg.TableMetadataValue)
    assert [(c.name, c.type) for c in value.schema.columns] == [
        ("sender", "string"),
        ("messages", "int"),
    ]
    assert value.records[0].data == {
        "sender": names["sender"] + "\\x1b[2J\\u202e",
        "messages": 3,
    }


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_asset_pages_fetch_nothing_named_by_chat_data(
    tmp_path: Path, tracker: tuple[str, list[str]]
) -> None:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        message = "Debian chromium is not installed"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    host, hits = tracker
    names = hostile_names(host)
    export = write_export(tmp_path / "result.json", names)
    data_dir = tmp_path / "data"
    home = write_instance_yaml(tmp_path / "dagster_home")
    with running_webserver(home, env=cli_env(TG_DATA_DIR=str(data_dir))) as url:
        ingest = run_cli("ingest", str(export), data_dir=data_dir, env=cli_env(TG_DAGSTER_URL=url))
        assert ingest.code == 0, str(ingest)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium,
                args=["--no-sandbox", "--disable-gpu", "--no-first-run"],
            )
            try:
                page = browser.new_page(viewport={"width": 1600, "height": 1200})
                seen = []
                for asset in ("messages", "user_message_counts"):
                    page.goto(f"{url}/assets/{asset}")
                    page.wait_for_load_state("networkidle")
                    page.get_by_text("Latest materialization").first.wait_for(timeout=60_000)
                    page.wait_for_timeout(1500)
                    page.screenshot(path=str(tmp_path / f"{asset}.png"), full_page=True)
                    seen.append(page.inner_text("body"))
            finally:
                browser.close()
    assert hits == [], f"the browser fetched URLs named by chat data: {hits}"
    body = "\n".join(seen)
    assert names["sender"] in body, body[:3000]
    assert "<img" in body, "HTML from the data shows as text"
