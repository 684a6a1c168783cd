"""A read while another process writes the warehouse: wait, then one clear line naming the run.
DuckDB only: its file takes one writer at a time; PostgreSQL reads never wait for a writer
(test_postgres_warehouse)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tg_pipeline_tests.cli_tests.conftest import (
    CLI,
    DataDir,
    assert_one_line_error,
    cli_env,
    run_cli,
)

#: Holds the warehouse open for writing, as an ingest step does, until a line arrives on
#: stdin. With "1" it first records a started run in the data dir's instance, which is what
#: a real ingest run looks like from outside.
_HOLDER = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    data_dir, with_run = Path(sys.argv[1]), sys.argv[2] == "1"
    if with_run:
        import dagster as dg
        os.environ["DAGSTER_HOME"] = str(data_dir / "dagster_home")
        dg.DagsterInstance.get().add_run(dg.DagsterRun(
            job_name="ingest_job",
            run_id="5eedf00d-0000-4000-8000-000000000001",
            status=dg.DagsterRunStatus.STARTED,
            tags={"dagster/partition": "big_export-0123456789ab"},
        ))
    from tg_pipeline.warehouse import Warehouse
    with Warehouse.open(data_dir / "warehouse.duckdb") as warehouse:
        warehouse.con.execute("SELECT count(*) FROM messages").fetchall()
        print("holding", flush=True)
        sys.stdin.readline()
    """
)


def hold_warehouse(data_dir: Path, *, with_run: bool) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(data_dir), "1" if with_run else "0"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "holding", proc.stderr.read() if proc.stderr else line
    return proc


def release(holder: subprocess.Popen[str]) -> None:
    assert holder.stdin is not None
    holder.stdin.write("done\n")
    holder.stdin.flush()
    assert holder.wait(timeout=30) == 0


def test_read_during_a_run_names_the_run(data_copy: DataDir) -> None:
    holder = hold_warehouse(data_copy.path, with_run=True)
    try:
        started = time.monotonic()
        result = run_cli("messages", "--wait", "1.5", data_dir=data_copy)
        waited = time.monotonic() - started
    finally:
        release(holder)
    assert_one_line_error(result, contains="warehouse is busy")
    assert "run 5eedf00d (ingest_job, dump big_export-0123456789ab)" in result.err
    assert "IO Error" not in result.err and "Conflicting lock" not in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert waited >= 1.5


def test_read_waits_for_a_write_that_ends(data_copy: DataDir) -> None:
    holder = hold_warehouse(data_copy.path, with_run=False)
    try:
        busy = run_cli("counts", "--wait", "0.5", data_dir=data_copy)
        patient = subprocess.Popen(
            [
                str(CLI),
                "--data-dir",
                str(data_copy.path),
                "counts",
                "--wait",
                "60",
                "--format",
                "jsonl",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(),
        )
        time.sleep(2.0)
        assert patient.poll() is None, "the read did not wait for the writer"
    finally:
        release(holder)
    out, err = patient.communicate(timeout=60)
    # Without a run in the instance, the lock's own report names the holding process.
    assert_one_line_error(busy, contains="is busy (held by pid")
    assert patient.returncode == 0, err
    assert out.strip() and "Traceback" not in err
