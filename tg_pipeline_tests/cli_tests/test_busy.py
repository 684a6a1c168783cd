"""A read while another process writes the warehouse: wait, then one clear line naming the run."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tg_pipeline_tests.cli_tests.conftest import assert_one_line_error, cli_env, run_cli

HOLD_S = 6.0

#: Holds the warehouse open for writing, as an ingest step does, after recording a run that
#: has started in the data dir's instance (what a real ingest run looks like from outside).
_HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    data_dir, hold_s, with_run = Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3] == "1"
    if with_run:
        import dagster as dg
        import os
        os.environ["DAGSTER_HOME"] = str(data_dir / "dagster_home")
        instance = dg.DagsterInstance.get()
        instance.add_run(dg.DagsterRun(
            job_name="ingest_job",
            run_id="5eedf00d-0000-4000-8000-000000000001",
            status=dg.DagsterRunStatus.STARTED,
            tags={"dagster/partition": "big_export-0123456789ab"},
        ))
    from tg_pipeline.warehouse import Warehouse
    with Warehouse.open(data_dir / "warehouse.duckdb") as warehouse:
        warehouse.con.execute("SELECT count(*) FROM messages").fetchall()
        print("holding", flush=True)
        time.sleep(hold_s)
    """
)


def hold_warehouse(data_dir: Path, *, with_run: bool) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(data_dir), str(HOLD_S), "1" if with_run else "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "holding", proc.stderr.read() if proc.stderr else line
    return proc


def test_read_during_a_run_names_the_run(data_copy: Path) -> None:
    holder = hold_warehouse(data_copy, with_run=True)
    try:
        started = time.monotonic()
        result = run_cli("messages", "--wait", "1.5", data_dir=data_copy)
        waited = time.monotonic() - started
    finally:
        holder.wait(timeout=30)
    assert_one_line_error(result, contains="warehouse is busy")
    assert "run 5eedf00d (ingest_job, dump big_export-0123456789ab)" in result.err
    assert "IO Error" not in result.err and "Conflicting lock" not in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert 1.5 <= waited < HOLD_S


def test_read_waits_for_a_short_write(data_copy: Path) -> None:
    holder = hold_warehouse(data_copy, with_run=False)
    try:
        busy = run_cli("counts", "--wait", "0.5", data_dir=data_copy)
        patient = run_cli(
            "counts", "--wait", str(HOLD_S + 10), "--format", "jsonl", data_dir=data_copy
        )
    finally:
        holder.wait(timeout=30)
    assert_one_line_error(busy, contains="is busy")
    assert "Traceback" not in busy.err
    assert patient.code == 0, str(patient)
    assert patient.jsonl()
