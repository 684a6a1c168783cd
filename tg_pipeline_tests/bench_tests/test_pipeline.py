"""``python -m tg_pipeline_tests.bench --only pipeline`` end to end on a small export."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tg_pipeline.warehouse import Warehouse

STEPS = (
    "json reader alone",
    "ingest result.json, drop to committed",
    "  of which read + upsert",
    "re-ingest unchanged, recognised",
    "re-ingest unchanged, via JSON reader",
    "bare DuckDB COPY to parquet",
    "backup parquet",
    "bare DuckDB COPY to csv",
    "backup csv",
    "re-ingest unchanged, from Parquet backup",
    "restore parquet into empty warehouse",
    "restore csv into empty warehouse",
)


@pytest.mark.slow
def test_pipeline_section_measures_every_step(tmp_path: Path) -> None:
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
            "pipeline",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    lines = done.stdout.splitlines()
    for step in STEPS:
        line = next(line for line in lines if line.startswith(f"pipeline  {step}"))
        assert "1,500" in line and " MB" in line
    assert "new 1,500, updated 0, unchanged 0" in done.stdout
    assert "new 0, updated 0, unchanged 1,500" in done.stdout
    work = tmp_path / "pipeline"
    (backup,) = (work / "backups").glob("messages-*.parquet")
    assert pq.ParquetFile(backup).metadata.num_rows == 1500
    # The dropped export went the whole ingest path: raw copy kept, inbox entry processed.
    data = work / "data"
    assert [p.name for p in (data / "processed").iterdir()] == ["result.json"]
    assert not any((data / "inbox").iterdir())
    (raw,) = (data / "raw").iterdir()
    assert (raw / "files" / "result.json").stat().st_size > 0
    with Warehouse.open(work / "upsert-only.duckdb", read_only=True) as warehouse:
        assert warehouse.row_counts()["messages"] == 1500
    warehouses = [data / "warehouse.duckdb"] + [
        work / f"{name}.duckdb" for name in ("restored-parquet", "restored-csv")
    ]
    for path in warehouses:
        with Warehouse.open(path, read_only=True) as warehouse:
            assert warehouse.row_counts()["messages"] == 1500
            assert warehouse.verify_backup(backup).ok
