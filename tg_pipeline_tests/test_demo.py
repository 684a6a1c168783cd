"""`make run` on a fresh checkout: its own data directory, counts, backups, what to try next,
and runs that the UI of `make dev` lists under their jobs."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tg_pipeline_tests.webserver import graphql, running_webserver

pytestmark = pytest.mark.slow

_JOB_RUNS = """
query ($job: String!) {
  pipelineOrError(params: {pipelineName: $job, repositoryName: "__repository__",
                           repositoryLocationName: "tg_pipeline.definitions"}) {
    __typename
    ... on Pipeline { runs { runId repositoryOrigin { repositoryLocationName } } }
  }
}
"""


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


def test_demo_uses_its_own_data_and_shows_in_the_ui(tmp_path: Path) -> None:
    first = _run_demo(tmp_path)

    assert first.returncode == 0, first.stdout + first.stderr
    data = tmp_path / "data"
    demo = data / "demo"
    assert "Hiking Club" in first.stdout and "messages" in first.stdout
    backups = [line.split()[1] for line in first.stdout.splitlines() if line.startswith("backup ")]
    assert len(backups) == 2
    assert all(Path(p).is_file() and Path(p).parent == demo / "backups" for p in backups)
    assert {Path(p).suffix for p in backups} == {".parquet", ".csv"}
    assert (demo / "warehouse.duckdb").is_file()
    # The user's own warehouse is left alone; the Dagster instance is the one make dev uses.
    assert not (data / "warehouse.duckdb").exists()
    assert (data / "dagster_home" / "dagster.yaml").is_file()
    for text in ("Where things are", "data/demo/warehouse.duckdb", "Try next", "make dev"):
        assert text in first.stdout, text
    assert "--data-dir data/demo messages --chat hiking" in first.stdout

    second = _run_demo(tmp_path)

    assert second.returncode == 0, second.stdout + second.stderr
    assert "0 new" in second.stdout and "no backup written" in second.stdout
    assert len(list((demo / "backups").glob("*.parquet"))) == 1

    with running_webserver(data / "dagster_home", env={"TG_DATA_DIR": str(data)}) as url:
        for job, count in (("ingest_job", 4), ("backup_job", 1)):
            found = graphql(url, _JOB_RUNS, {"job": job})["pipelineOrError"]
            assert found["__typename"] == "Pipeline", found
            runs = found["runs"]
            assert len(runs) == count, runs
            assert all(
                r["repositoryOrigin"]["repositoryLocationName"] == "tg_pipeline.definitions"
                for r in runs
            )
