"""``python -m tg_pipeline_tests.bench --only postgres`` end to end on a small export."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

STEPS = (
    "ingest result.json into empty",
    "re-ingest unchanged, via JSON reader",
    "backup parquet",
    "backup csv",
    "re-ingest unchanged, from Parquet backup",
    "restore parquet into empty warehouse",
)


def test_postgres_section_measures_every_step(pg_database: str, tmp_path: Path) -> None:
    """(``pg_database`` skips, or fails in CI, when no local server answers.)"""
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
            "postgres",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("postgres ")]
    assert len(lines) == len(STEPS), done.stdout
    for line, step in zip(lines, STEPS, strict=True):
        assert f" {step} " in line, (step, line)
    assert "new 1,500, updated 0, unchanged 0" in done.stdout
    assert "new 0, updated 0, unchanged 1,500" in done.stdout
