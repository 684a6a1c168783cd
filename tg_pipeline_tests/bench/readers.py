"""Reader throughput and memory on a synthetic export in Telegram's real layout.

Each reader runs in a fresh process over the whole cached export (see :mod:`.exports`) and
only counts the records, so the figures are the readers' own: JSON in pieces parsed on
all cores, HTML with every page parsed in parallel on all cores. Goals (issue 2, on 2 cores):
JSON ≥ 100k msg/s with peak RSS under 300 MB, HTML ≥ 40k msg/s.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from tg_pipeline_tests.bench import BenchContext, Measurement
from tg_pipeline_tests.bench.exports import ensure_export
from tg_pipeline_tests.bench.harness import emit, run_child

DESCRIPTION = "JSON and HTML readers: msg/s and peak RSS on a synthetic export"

JSON_GOAL_RATE = 100_000
JSON_GOAL_RSS_MB = 300
HTML_GOAL_RATE = 40_000


def run(ctx: BenchContext) -> list[Measurement]:
    export = ensure_export(ctx.out, ctx.messages)
    results: list[Measurement] = []

    json_run = run_child(__name__, ["--child", "json", str(export.json)])
    rows = int(json_run.report["rows"])
    seconds = float(json_run.report["seconds"])
    notes = [f"result.json {export.json_bytes / 1e6:.0f} MB; {rows:,} records"]
    if rows != ctx.messages:
        notes.append(f"expected {ctx.messages:,} records")
    results.append(
        Measurement(
            "readers",
            "json (ijson stream)",
            rows,
            seconds,
            json_run.peak_rss_mb,
            goal=f"≥ {JSON_GOAL_RATE // 1000}k msg/s, < {JSON_GOAL_RSS_MB} MB",
            met=rows / seconds >= JSON_GOAL_RATE and json_run.peak_rss_mb < JSON_GOAL_RSS_MB,
            notes=notes,
            cpu_seconds=json_run.cpu_seconds,
        )
    )

    html_run = run_child(__name__, ["--child", "html", str(export.html)])
    rows = int(html_run.report["rows"])
    seconds = float(html_run.report["seconds"])
    pages = len(export.html_pages)
    notes = [
        f"{pages} pages, {export.html_bytes / 1e6:.0f} MB, {ctx.cpus} worker processes; "
        "peak RSS is the summed PSS of the reader and its workers",
    ]
    if rows != ctx.messages:
        notes.append(f"expected {ctx.messages:,} records")
    results.append(
        Measurement(
            "readers",
            f"html ({ctx.cpus} cores)",
            rows,
            seconds,
            html_run.peak_rss_mb,
            goal=f"≥ {HTML_GOAL_RATE // 1000}k msg/s",
            met=rows / seconds >= HTML_GOAL_RATE,
            notes=notes,
            cpu_seconds=html_run.cpu_seconds,
        )
    )
    return results


def _child(kind: str, path: Path, workers: int | None = None) -> None:
    """Read the whole export, counting records; report rows and reader seconds.

    Imports happen before the clock starts: they are interpreter start-up, not reading.
    """
    from tg_pipeline.readers.html_export import order_pages, read_html_export
    from tg_pipeline.readers.json_export import read_json_export
    from tg_pipeline.records import ReadOptions

    options = ReadOptions(workers=workers)
    started = time.perf_counter()
    rows = 0
    if kind == "json":
        for batch in read_json_export(path, options):
            rows += batch.num_rows
    else:
        pages = order_pages(path.glob("messages*.html"))
        for batch in read_html_export(pages, options):
            rows += batch.num_rows
    emit({"rows": rows, "seconds": time.perf_counter() - started})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="one reader measurement (internal)")
    parser.add_argument("--child", choices=("json", "html"), required=True)
    parser.add_argument("path", type=Path)
    parser.add_argument("--workers", type=int, help="worker processes (default: all cores)")
    args = parser.parse_args(argv)
    _child(args.child, args.path, args.workers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
