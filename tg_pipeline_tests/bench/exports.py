"""Synthetic benchmark exports, generated once per size and kept in the output folder.

A 1M-message export takes a minute or two to write and over a gigabyte of disk, so it is
kept in ``<out>/exports/n<N>/`` with a marker naming the generator version; reruns reuse it
and a generator change redoes it.
"""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tg_pipeline_tests.synthetic import BIG_EXPORT_VERSION, generate_big_export

MARKER = "COMPLETE"


@dataclass(frozen=True)
class BenchExport:
    messages: int
    json: Path
    html: Path

    @property
    def json_bytes(self) -> int:
        return self.json.stat().st_size

    @property
    def html_pages(self) -> list[Path]:
        return sorted(self.html.glob("messages*.html"))

    @property
    def html_bytes(self) -> int:
        return sum(page.stat().st_size for page in self.html_pages)


#: The marker's suffix for an export written as ``result.json`` only.
JSON_ONLY = " json"


def ensure_export(out: Path, messages: int, *, html: bool = True) -> BenchExport:
    """The cached export of ``messages`` messages in both formats, written if missing.

    ``html`` false settles for ``result.json`` alone (an export of both formats serves
    too): the HTML pages of a large export take most of the writing time and disk.
    """
    folder = out / "exports" / f"n{messages}"
    marker = folder / MARKER
    export = BenchExport(messages, folder / "json" / "result.json", folder / "html")
    if marker.exists():
        written = marker.read_text().strip()
        json_only = BIG_EXPORT_VERSION + JSON_ONLY
        if written == BIG_EXPORT_VERSION or (not html and written == json_only):
            return export
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    started = time.perf_counter()
    print(f"writing a {messages:,}-message export to {folder} …", file=sys.stderr, flush=True)

    def progress(count: int) -> None:
        if count:
            print(f"  {count:,} messages", file=sys.stderr, flush=True)

    formats = ("json", "html") if html else ("json",)
    generate_big_export(folder, messages, formats=formats, progress=progress)
    marker.write_text(BIG_EXPORT_VERSION + ("" if html else JSON_ONLY) + "\n")
    elapsed = time.perf_counter() - started
    print(f"  done in {elapsed:.0f} s", file=sys.stderr, flush=True)
    return export
