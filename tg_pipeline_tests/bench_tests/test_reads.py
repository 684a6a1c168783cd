"""``python -m tg_pipeline_tests.bench --only reads`` end to end on a small export."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tg_pipeline_tests.bench.reads import EXPORTS


@pytest.mark.slow
def test_reads_section_measures_every_export(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tg_pipeline_tests.bench",
            "--messages",
            "1200",
            "--out",
            str(tmp_path),
            "--only",
            "reads",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    lines = done.stdout.splitlines()
    build = next(line for line in lines if line.startswith("reads") and "build" in line)
    assert "3,600" in build  # the export three times over, as three chats
    for command, fmt in EXPORTS:
        line = next(line for line in lines if f"  {command} --format {fmt}  " in line)
        assert " MB" in line and "< 400 MB" in line
    messages = next(line for line in lines if "  messages --format jsonl  " in line)
    assert "3,600" in messages
