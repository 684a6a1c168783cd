"""Memory against export size: the JSON reader and the ingest at N and 3N messages.

Opt-in (``--only scale``): the 3N export takes minutes to write and gigabytes of disk, so
``make bench`` leaves it out; ``make bench BENCH_ARGS="--only scale"`` runs it at 1M and
3M messages. The exports are ``result.json`` only (:func:`.exports.ensure_export`).

Each size runs the JSON reader on all cores (:mod:`.readers`' child) and ``tg-pipeline
ingest <file>`` into an empty DuckDB warehouse (:mod:`.pipeline`'s ``drop --by-path``
child), each in a fresh process, measured as every section measures (peak summed PSS or
peak RSS of any one process; CPU over all processes). Goal (issue 2, point 4): for each,
the larger export's peak within 10% of the smaller one's.
"""

from __future__ import annotations

import shutil

from tg_pipeline_tests.bench import BenchContext, Measurement
from tg_pipeline_tests.bench import pipeline as pipeline_bench
from tg_pipeline_tests.bench import readers as readers_bench
from tg_pipeline_tests.bench.exports import ensure_export
from tg_pipeline_tests.bench.harness import ChildRun, run_child

DESCRIPTION = "memory against export size: JSON reader and ingest at N and 3N messages"
OPT_IN = True

SECTION = "scale"
FACTOR = 3
#: The larger export's peak may exceed the smaller one's by this share at most.
FLAT_SHARE = 0.10


def run(ctx: BenchContext) -> list[Measurement]:
    sizes = (ctx.messages, FACTOR * ctx.messages)
    work = ctx.out / "scale"
    runs: dict[tuple[str, int], ChildRun] = {}
    for size in sizes:
        export = ensure_export(ctx.out, size, html=False)
        runs["reader", size] = run_child(
            readers_bench.__name__, ["--child", "json", str(export.json)]
        )
        data = work / f"n{size}"
        shutil.rmtree(data, ignore_errors=True)
        runs["ingest", size] = run_child(
            pipeline_bench.__name__, ["--child", "drop", "--by-path", str(data), str(export.json)]
        )
        shutil.rmtree(data, ignore_errors=True)
    results: list[Measurement] = []
    for step, label in (("reader", "json reader"), ("ingest", "tg-pipeline ingest result.json")):
        small, large = (runs[step, size] for size in sizes)
        growth = large.peak_rss_mb / small.peak_rss_mb - 1 if small.peak_rss_mb else 0.0
        for size, child in ((sizes[0], small), (sizes[1], large)):
            is_large = size == sizes[1]
            results.append(
                Measurement(
                    SECTION,
                    f"{label}, {size:,} messages",
                    int(child.report["rows"]),
                    float(child.report["seconds"]),
                    child.peak_rss_mb,
                    goal=f"peak ≤ {1 + FLAT_SHARE:.2f}× at {sizes[0]:,}" if is_large else "",
                    met=growth <= FLAT_SHARE if is_large else None,
                    notes=[f"peak {growth:+.1%} against {sizes[0]:,} messages"] if is_large else [],
                    cpu_seconds=child.cpu_seconds,
                )
            )
    return results
