"""The chat report over the synthetic export: every chat drawn from scratch, then again
with nothing changed.

The export is ingested once into ``<out>/report/warehouse.duckdb`` (kept for reruns of the
same size; not timed). Each measurement is a fresh process that opens the warehouse
read-only, runs the report's DuckDB aggregations and draws and writes every page, as
``tg-pipeline report`` does.

Goal (issue 18): the full report in under 15 s, peak RSS under 500 MB.
"""

from __future__ import annotations

import argparse
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tg_pipeline.warehouse.migrations import LATEST_VERSION
from tg_pipeline_tests.bench import BenchContext, Measurement
from tg_pipeline_tests.bench.exports import ensure_export
from tg_pipeline_tests.bench.harness import emit, run_child

DESCRIPTION = "the HTML chat report: all chats drawn from scratch, then unchanged"

SECTION = "report"
SECONDS_GOAL = 15.0
RSS_LIMIT_MB = 500
READY = "READY"


def run(ctx: BenchContext) -> list[Measurement]:
    export = ensure_export(ctx.out, ctx.messages)
    work = ctx.out / "report"
    warehouse = work / "warehouse.duckdb"
    ready = work / READY
    # A warehouse of an older schema is not upgraded by the report, which only reads it.
    built_from = f"{export.json} schema {LATEST_VERSION}"
    if not (ready.exists() and ready.read_text().strip() == built_from):
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        print(f"ingesting {export.json} for the report …", flush=True)
        run_child(__name__, ["--child", "prepare", str(warehouse), str(export.json)])
        ready.write_text(built_from)
    out = work / "html"
    shutil.rmtree(out, ignore_errors=True)
    goal = f"< {SECONDS_GOAL:g} s, < {RSS_LIMIT_MB} MB"
    results = []
    for name, check in (
        ("full report, every chat drawn", True),
        ("report, nothing changed", False),
    ):
        child = run_child(__name__, ["--child", "build", str(warehouse), str(out)])
        report = child.report
        met = report["seconds"] < SECONDS_GOAL and child.peak_rss_mb < RSS_LIMIT_MB
        results.append(
            Measurement(
                SECTION,
                name,
                int(report["rows"]),
                float(report["seconds"]),
                child.peak_rss_mb,
                goal=goal if check else "",
                met=met if check else None,
                notes=[
                    f"{report['chats']} chat(s), {report['drawn']} page(s) drawn, "
                    f"{report['bytes'] / 1e6:.1f} MB of HTML; "
                    f"DuckDB queries {report['query_seconds']:.1f} s"
                ],
            )
        )
    return results


# -- child side ------------------------------------------------------------------------


def _prepare(warehouse: Path, export: Path) -> dict[str, Any]:
    from tg_pipeline.readers.json_export import read_json_export
    from tg_pipeline.records import ReadOptions
    from tg_pipeline.warehouse import DumpRecord, Warehouse

    record = DumpRecord(
        dump_id="bench-report",
        kind="telegram_json",
        fingerprint="bench-report",
        source=str(export),
        files=[export.name],
    )
    started = time.perf_counter()
    with Warehouse.open(warehouse) as opened:
        result = opened.ingest(read_json_export(export, ReadOptions()), dump=record)
        opened.refresh_counts()
    return {"rows": result.rows, "seconds": time.perf_counter() - started}


def _build(warehouse: Path, out: Path) -> dict[str, Any]:
    from tg_pipeline.report import ZoneLookup, build_report
    from tg_pipeline.warehouse import Warehouse

    started = time.perf_counter()
    with Warehouse.open(warehouse, read_only=True) as opened:
        result = build_report(opened.con, out, ZoneLookup(opened.con, warehouse.parent / "raw"))
    seconds = time.perf_counter() - started
    return {
        "rows": result.messages,
        "seconds": seconds,
        "chats": len(result.pages),
        "drawn": result.drawn,
        "bytes": sum(p.stat().st_size for p in out.glob("*.html")),
        "query_seconds": result.query_seconds,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="one report measurement (internal)")
    parser.add_argument("--child", choices=("prepare", "build"), required=True)
    parser.add_argument("args", nargs=2)
    ns = parser.parse_args(argv)
    first, second = (Path(a) for a in ns.args)
    emit(_prepare(first, second) if ns.child == "prepare" else _build(first, second))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
