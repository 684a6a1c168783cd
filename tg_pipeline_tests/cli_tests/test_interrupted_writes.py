"""A write killed or interrupted mid-way blocks nobody, stores nothing half-done, and says so.

The CLI runs as a user runs it (a process of its own, in its own session, Ctrl-C reaching
the whole group); a 300,000-message export keeps its warehouse step busy long enough to be
stopped in the middle of it. DuckDB only here: a PostgreSQL writer killed mid-write is
warehouse_tests/test_pg_concurrency's subject.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import duckdb
import orjson
import pytest
from dagster._core.instance.ref import InstanceRef

from tg_pipeline.cli.local import instance_setup_lock
from tg_pipeline_tests.cli_tests.conftest import CLI, cli_env, run_cli
from tg_pipeline_tests.synthetic import generate_big_export

BIG = 300_000
SEED_MESSAGES = 12

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def big_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Written once for the module: its JSON is about 100 MB."""
    root = tmp_path_factory.mktemp("big_export")
    return generate_big_export(root, BIG, formats=("json",))["json"].parent


def _start(data_dir: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(CLI), "--data-dir", str(data_dir), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        start_new_session=True,
        # A shell that started pytest in the background leaves SIGINT ignored; a user's
        # terminal does not.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _step_started(data_dir: Path, step: str) -> bool:
    home = data_dir / "dagster_home"
    if not (home / "history").exists():
        return False
    # The CLI may be creating the instance's tables right now; wait for it to finish.
    with (
        instance_setup_lock(home),
        dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance,
    ):
        for run in instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
            for record in instance.get_records_for_run(
                run.run_id, of_type=dg.DagsterEventType.STEP_START
            ).records:
                if record.event_log_entry.step_key == step:
                    return True
    return False


def _wait_for(condition: Callable[[], bool], proc: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 300
    while not condition():
        assert proc.poll() is None, f"finished before {what}: {proc.communicate()}"
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.2)


def _runs(data_dir: Path) -> dict[str, str]:
    result = run_cli("status", "--format", "json", data_dir=data_dir)
    assert result.code == 0, str(result)
    return {r["run_id"]: r["status"] for r in orjson.loads(result.out)["runs"]["runs"]}


def _scalar(data_dir: Path, sql: str) -> int:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        return int(con.execute(sql).fetchall()[0][0])


def test_a_killed_or_interrupted_ingest_blocks_nothing_and_stores_nothing(
    big_export: Path, seed_dir: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    stops = ((signal.SIGKILL, "FAILURE"), (signal.SIGINT, "CANCELED"), (signal.SIGTERM, "CANCELED"))
    for sig, ended in stops:
        before = set(_runs(data_dir)) if data_dir.exists() else set()
        proc = _start(data_dir, "ingest", str(big_export))
        _wait_for(lambda: _step_started(data_dir, "messages"), proc, "the messages step")
        time.sleep(1.0)  # well inside the upsert of 300,000 rows
        if sig == signal.SIGINT:
            os.killpg(proc.pid, sig)  # what a terminal's Ctrl-C does
        else:
            proc.send_signal(sig)
        _out, err = proc.communicate(timeout=120)
        if sig != signal.SIGKILL:
            # One line: what was canceled, and that nothing of it was stored.
            assert proc.returncode == 130, err
            assert "Traceback" not in err, err
            lines = [line for line in err.splitlines() if line.strip()]
            assert len(lines) == 1, err
            assert "canceled" in lines[0] and "nothing was stored" in lines[0], err
        else:
            assert proc.returncode == -signal.SIGKILL

        # The next write proceeds at once (it would wait for ever behind a dead holder).
        nxt = run_cli("ingest", str(seed_dir / "result.json"), data_dir=data_dir)
        assert nxt.code == 0, str(nxt)
        runs = _runs(data_dir)
        killed = [run_id for run_id in runs if run_id not in before and runs[run_id] != "SUCCESS"]
        assert [runs[run_id] for run_id in killed] == [ended], runs
        assert _scalar(data_dir, "SELECT count(*) FROM messages") == SEED_MESSAGES
        # No orphan worker of the killed reader is left behind holding the export open.
        assert not _processes_reading(big_export)

    again = run_cli("ingest", str(big_export), data_dir=data_dir)
    assert again.code == 0, str(again)
    assert _scalar(data_dir, "SELECT count(*) FROM messages") == BIG + SEED_MESSAGES
    assert (
        _scalar(
            data_dir,
            "SELECT count(*) FROM (SELECT chat_id, message_id FROM messages "
            "GROUP BY ALL HAVING count(*) > 1)",
        )
        == 0
    )
    status = run_cli("status", data_dir=data_dir)
    assert "STARTED" not in status.out, str(status)

    # A killed backup: its temp file is removed by the next backup, which succeeds.
    backups = data_dir / "backups"
    proc = _start(data_dir, "backup", "--format", "parquet")
    _wait_for(lambda: any(backups.glob(".messages-*.tmp")), proc, "the backup's temp file")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert list(backups.glob(".messages-*.tmp"))
    done = run_cli("backup", "--format", "parquet", data_dir=data_dir)
    assert done.code == 0, str(done)
    assert not list(backups.glob(".*.tmp"))


def _processes_reading(export: Path) -> list[int]:
    """Processes still running with a file of ``export`` open (reader workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            targets = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
        except OSError:
            continue
        if any(t.startswith(str(export)) for t in targets):
            found.append(int(entry.name))
    return found
