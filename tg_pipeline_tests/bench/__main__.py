"""``python -m tg_pipeline_tests.bench``: run the benchmark sections and print one table."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from tg_pipeline_tests.bench import BenchContext, Measurement, available_sections
from tg_pipeline_tests.bench.harness import format_table


def main(argv: Sequence[str] | None = None) -> int:
    sections = available_sections()
    parser = argparse.ArgumentParser(
        prog="python -m tg_pipeline_tests.bench",
        description="Benchmarks: "
        + "; ".join(
            f"{name}: {module.DESCRIPTION}" + (" (only with --only)" if _opt_in(module) else "")
            for name, module in sections.items()
        ),
    )
    parser.add_argument(
        "--messages", type=int, default=1_000_000, help="size of the synthetic export"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("bench_out"),
        help="where exports are cached and sections write (default ./bench_out)",
    )
    parser.add_argument(
        "--only",
        choices=sorted(sections),
        help="run one section",
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit with status 1 when a goal is missed"
    )
    args = parser.parse_args(argv)
    if args.messages < 1:
        parser.error("--messages must be at least 1")
    chosen = (
        {args.only: sections[args.only]}
        if args.only
        else {name: module for name, module in sections.items() if not _opt_in(module)}
    )
    ctx = BenchContext(messages=args.messages, out=args.out.resolve(), cpus=os.cpu_count() or 1)
    ctx.out.mkdir(parents=True, exist_ok=True)
    results: list[Measurement] = []
    started = time.perf_counter()
    for name, module in chosen.items():
        print(f"== {name}: {module.DESCRIPTION}", file=sys.stderr, flush=True)
        results.extend(module.run(ctx))
    print(format_table(results))
    print(f"\n{len(results)} measurements in {time.perf_counter() - started:.0f} s", flush=True)
    missed = [m for m in results if m.met is False]
    return 1 if (missed and args.strict) else 0


def _opt_in(module: ModuleType) -> bool:
    """A section that runs only when named with ``--only`` (``OPT_IN = True``): one too
    slow for every ``make bench``."""
    return bool(getattr(module, "OPT_IN", False))


if __name__ == "__main__":
    raise SystemExit(main())
