"""``python -m tg_pipeline_tests.synthetic``: write the sample export or a big one."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from tg_pipeline_tests.synthetic import generate_big_export, write_export


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tg_pipeline_tests.synthetic",
        description="Write synthetic Telegram Desktop exports in both formats.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sample = sub.add_parser("sample", help="the bundled sample export")
    sample.add_argument("out", type=Path)
    big = sub.add_parser("big", help="a large export for benchmarks")
    big.add_argument("messages", type=int)
    big.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    if args.command == "sample":
        from tg_pipeline_tests.synthetic.sample import SAMPLE_PER_PAGE, sample_chat

        write_export(sample_chat(), args.out, per_page=SAMPLE_PER_PAGE)
    else:
        generate_big_export(args.out, args.messages)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
