"""`make run` on a fresh data directory: counts printed, two backup files on disk, twice."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _run_demo(cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TG_", "DAGSTER_"))}
    return subprocess.run(
        [sys.executable, "-m", "tg_pipeline.demo"],
        cwd=cwd,
        env={**env, "COLUMNS": "120"},
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_demo_prints_counts_and_leaves_two_backups(tmp_path: Path) -> None:
    first = _run_demo(tmp_path)

    assert first.returncode == 0, first.stdout + first.stderr
    data = tmp_path / "data"
    assert "Hiking Club" in first.stdout and "messages" in first.stdout
    backups = [line.split()[1] for line in first.stdout.splitlines() if line.startswith("backup ")]
    assert len(backups) == 2
    assert all(Path(p).is_file() and Path(p).parent == data / "backups" for p in backups)
    assert {Path(p).suffix for p in backups} == {".parquet", ".csv"}
    assert (data / "dagster_home" / "dagster.yaml").is_file()
    assert (data / "warehouse.duckdb").is_file()

    second = _run_demo(tmp_path)

    assert second.returncode == 0, second.stdout + second.stderr
    assert "0 new" in second.stdout
    assert len(list((data / "backups").glob("*.parquet"))) == 2
