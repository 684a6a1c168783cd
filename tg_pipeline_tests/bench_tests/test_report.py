"""``python -m tg_pipeline_tests.bench --only report`` end to end on a small export."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_report_section_builds_the_report_and_prints_it(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tg_pipeline_tests.bench",
            "--messages",
            "1500",
            "--out",
            str(tmp_path),
            "--only",
            "report",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    full = next(line for line in lines if "full report, every chat drawn" in line)
    assert "< 15 s, < 500 MB" in full and " MB " in full
    assert any("report, nothing changed" in line for line in lines)
    assert "1 chat(s), 1 page(s) drawn" in done.stdout
    assert "1 chat(s), 0 page(s) drawn" in done.stdout
    pages = sorted(p.name for p in (tmp_path / "report" / "html").glob("*.html"))
    assert len(pages) == 2 and "index.html" in pages
