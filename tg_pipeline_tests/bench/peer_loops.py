"""The peers' loops, run as a script by the peers' own interpreter (see :mod:`.peer_env`).

Standard library and the peer packages only: the peers' environment has neither the
project nor its dependencies. Peer packages are imported with ``importlib`` because they
are not installed where the project is type-checked. Every loop imports its package
before the clock starts and keeps what it reads in a local, so the work is the peer's
parsing and field access, not list building; it prints one JSON object as the harness
expects.

Usage: ``python peer_loops.py PEER PATH [PAGE_LIMIT]`` where PATH is ``result.json`` or
the HTML export's folder.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

#: What each peer reads, as the bench prints it.
FIELDS = {
    "chatpack": "sender, text (flattened), timestamp; skips service entries and "
    "messages without text",
    "ijson": "every field: each message as a dict of Python values",
    "selectolax": "id, sender (carried over joined messages), date title, text",
    "bs4-lxml": "id, sender (carried over joined messages), date title, text",
    "bs4-html.parser": "id, sender (carried over joined messages), date title, text",
}
#: The distribution each peer comes from, for its version.
DISTRIBUTION = {
    "chatpack": "chatpack",
    "ijson": "ijson",
    "selectolax": "selectolax",
    "bs4-lxml": "beautifulsoup4",
    "bs4-html.parser": "beautifulsoup4",
}


def _chatpack(path: Path, limit: int) -> tuple[int, float, str]:
    chatpack = importlib.import_module("chatpack")
    started = time.perf_counter()
    rows = 0
    kept: list[object] = [None]
    for message in chatpack.TelegramStreamParser(str(path)):
        kept[0] = (message.sender, message.content, message.timestamp)
        rows += 1
    return rows, time.perf_counter() - started, ""


def _ijson(path: Path, limit: int) -> tuple[int, float, str]:
    ijson = importlib.import_module("ijson")
    started = time.perf_counter()
    rows = 0
    kept: list[object] = [None]
    with path.open("rb") as f:
        for message in ijson.items(f, "messages.item"):
            kept[0] = message
            rows += 1
    return rows, time.perf_counter() - started, f"ijson backend {ijson.backend}"


def _pages(folder: Path, limit: int) -> list[Path]:
    def number(page: Path) -> int:
        found = re.fullmatch(r"messages(\d*)\.html", page.name)
        return int(found.group(1) or 1) if found else 0

    pages = sorted(folder.glob("messages*.html"), key=number)
    return pages[:limit] if limit > 0 else pages


def _selectolax(folder: Path, limit: int) -> tuple[int, float, str]:
    lexbor = importlib.import_module("selectolax.lexbor")
    pages = _pages(folder, limit)
    started = time.perf_counter()
    rows = 0
    kept: list[object] = [None]
    sender = ""
    for page in pages:
        tree = lexbor.LexborHTMLParser(page.read_bytes())
        for node in tree.css("div.message"):
            message_id = node.attributes.get("id") or ""
            if message_id.startswith("message-"):
                continue  # a date separator, not a message
            name = node.css_first("div.from_name")
            if name is not None:
                sender = name.text(strip=True)
            date = node.css_first("div.date")
            when = date.attributes.get("title") if date is not None else None
            text_node = node.css_first("div.text")
            text = text_node.text(strip=True) if text_node is not None else ""
            kept[0] = (message_id, sender, when, text)
            rows += 1
    return rows, time.perf_counter() - started, f"{len(pages)} pages; lexbor parser"


def _soup(parser: str) -> Callable[[Path, int], tuple[int, float, str]]:
    def loop(folder: Path, limit: int) -> tuple[int, float, str]:
        bs4 = importlib.import_module("bs4")
        importlib.import_module("lxml.etree")
        pages = _pages(folder, limit)
        started = time.perf_counter()
        rows = 0
        kept: list[object] = [None]
        sender = ""
        for page in pages:
            soup = bs4.BeautifulSoup(page.read_bytes(), parser)
            for node in soup.find_all("div", class_="message"):
                message_id = node.get("id") or ""
                if message_id.startswith("message-"):
                    continue
                name = node.find("div", class_="from_name")
                if name is not None:
                    sender = name.get_text(strip=True)
                date = node.find("div", class_="date")
                when = date.get("title") if date is not None else None
                text_node = node.find("div", class_="text")
                text = text_node.get_text(strip=True) if text_node is not None else ""
                kept[0] = (message_id, sender, when, text)
                rows += 1
        return rows, time.perf_counter() - started, f"{len(pages)} pages; {parser}"

    return loop


def _own_peak_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


LOOPS: dict[str, Callable[[Path, int], tuple[int, float, str]]] = {
    "chatpack": _chatpack,
    "ijson": _ijson,
    "selectolax": _selectolax,
    "bs4-lxml": _soup("lxml"),
    "bs4-html.parser": _soup("html.parser"),
}


def main(argv: list[str]) -> int:
    peer, path = argv[0], Path(argv[1])
    limit = int(argv[2]) if len(argv) > 2 else 0
    rows, seconds, note = LOOPS[peer](path, limit)
    report: dict[str, Any] = {
        "rows": rows,
        "seconds": seconds,
        "note": note,
        "fields": FIELDS[peer],
        "version": metadata.version(DISTRIBUTION[peer]),
        # The harness's key for the process's own peak RSS (harness.OWN_PEAK_KEY).
        "own_peak_kb": _own_peak_kb(),
    }
    sys.stdout.write(json.dumps(report) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
