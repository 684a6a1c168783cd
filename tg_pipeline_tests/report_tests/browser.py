"""Headless Chromium that may not reach anything: every request of the page is sent to a
loopback proxy that counts it and refuses it, so a test can show a page needed no network.

The browser process itself phones home (component updates, accounts) whatever the page
does; those requests go to a second proxy that refuses them without counting, so the count
is the page's alone.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest


@dataclass
class CountingProxy:
    """Request lines the proxy was asked for (``GET http://…``, ``CONNECT host:443``)."""

    port: int = 0
    requests: list[str] = field(default_factory=list)


def _handler(proxy: CountingProxy) -> type[BaseHTTPRequestHandler]:
    class Refuse(BaseHTTPRequestHandler):
        def _refuse(self) -> None:
            proxy.requests.append(self.requestline)
            self.send_error(502, "no network in this test")

        do_GET = do_POST = do_HEAD = do_PUT = do_OPTIONS = do_CONNECT = _refuse

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Refuse


@contextmanager
def counting_proxy() -> Iterator[CountingProxy]:
    proxy = CountingProxy()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(proxy))
    proxy.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def chromium_path() -> str:
    chromium = shutil.which("chromium")
    if chromium is None:
        message = "Debian chromium is not installed"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return chromium


@contextmanager
def offline_page(proxy: CountingProxy, *, width: int = 1300, height: int = 900) -> Iterator[Any]:
    """A page in headless Chromium whose every request, loopback included, hits ``proxy``."""
    from playwright.sync_api import sync_playwright

    chromium = chromium_path()
    with counting_proxy() as background, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"],
            proxy={"server": f"http://127.0.0.1:{background.port}", "bypass": "<-loopback>"},
        )
        try:
            context = browser.new_context(
                viewport={"width": width, "height": height},
                proxy={"server": f"http://127.0.0.1:{proxy.port}", "bypass": "<-loopback>"},
            )
            yield context.new_page()
        finally:
            browser.close()


def svg_texts(page: Any, selector: str) -> str:
    """The text of every ``<text>`` element of the SVGs under ``selector``."""
    return page.eval_on_selector_all(
        f"{selector} svg text", "nodes => nodes.map(n => n.textContent).join('\\n')"
    )


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5_000, path
