"""Five dumps dropped at once: the sensor starts five runs, the run queue and the warehouse
lock make them take turns, and all five succeed with every check passing.

Each run holds the warehouse for its whole length, so no other run's write can land between
one run's counts step and its counts check.

This runs the real thing: `dagster-daemon run` (sensor daemon + run queue) on a temporary
DAGSTER_HOME configured by the repository's dagster.yaml, launching each run in its own
process. Nothing is invoked in-process, so a DuckDB lock conflict would fail a run here.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef

from tg_pipeline.ingest import DataPaths
from tg_pipeline.warehouse.lock import Holder, read_holder
from tg_pipeline_tests.dagster_harness import scalar
from tg_pipeline_tests.synthetic import generate_big_export

REPO_ROOT = Path(__file__).resolve().parents[1]
DAEMON = Path(os.environ.get("VIRTUAL_ENV", REPO_ROOT / ".venv")) / "bin" / "dagster-daemon"
DUMPS = 5
#: Far above the usual minute or two: the test must also pass on a busy machine.
DEADLINE_S = 400
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}

pytestmark = pytest.mark.slow


def five_chats(seed_dir: Path, inbox: Path) -> None:
    """Five exports of five different chats (the seed chat under other ids and names)."""
    seed = json.loads((seed_dir / "result.json").read_text(encoding="utf-8"))
    inbox.mkdir(parents=True)
    for i in range(DUMPS):
        chat = dict(seed, id=seed["id"] + 1 + i, name=f"chat number {i}")
        folder = inbox / f"ChatExport_{i}"
        folder.mkdir()
        (folder / "result.json").write_text(json.dumps(chat, ensure_ascii=False), "utf-8")


def _env(home: Path, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TG_", "DAGSTER_"))}
    env.update(DAGSTER_HOME=str(home), TG_DATA_DIR=str(data_dir), TG_SETTLE_SECONDS="0")
    return env


def test_five_dumps_at_once_all_succeed_through_the_run_queue(tmp_path, seed_dir) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    paths = DataPaths.under(tmp_path / "data")
    five_chats(seed_dir, paths.inbox)
    # Create the instance's SQLite storage before two processes race to create it.
    with _instance(home) as instance:
        assert list(instance.get_runs()) == []
    log = (tmp_path / "daemon.log").open("w")
    daemon = subprocess.Popen(
        [str(DAEMON), "run", "-m", "tg_pipeline.definitions"],
        cwd=tmp_path,
        env=_env(home, paths.data_dir),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        runs = _wait_for_runs(home, daemon)
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
        log.close()

    statuses = [r.status for r in runs]
    assert statuses == [dg.DagsterRunStatus.SUCCESS] * DUMPS, (tmp_path / "daemon.log").read_text()
    assert len({r.tags["dagster/partition"] for r in runs}) == DUMPS
    assert scalar(paths, "SELECT count(*) FROM chats") == DUMPS
    assert scalar(paths, "SELECT count(*) FROM messages") == 12 * DUMPS
    assert scalar(paths, "SELECT sum(message_count) FROM user_message_counts") == 10 * DUMPS
    assert list(paths.inbox.iterdir()) == []
    assert len(list(paths.processed.iterdir())) == DUMPS
    _assert_warehouse_steps_never_overlapped(home, runs)
    _assert_every_check_passed(home, runs)


def _assert_every_check_passed(home: Path, runs: list[dg.DagsterRun]) -> None:
    with _instance(home) as instance:
        for run in runs:
            records = instance.get_records_for_run(
                run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
            ).records
            evaluations = [r.event_log_entry.dagster_event.event_specific_data for r in records]
            assert len(evaluations) >= 3, run.run_id
            failed = [e.check_name for e in evaluations if not e.passed]
            assert not failed, f"run {run.run_id}: {failed}"


def test_a_killed_run_leaves_the_queue_and_the_next_dump_runs(tmp_path, seed_dir) -> None:
    """`kill -9` of a run's process: the daemon's sensor ends that run, and the next dropped
    dump is ingested instead of waiting behind it."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    paths = DataPaths.under(tmp_path / "data")
    paths.inbox.mkdir(parents=True)
    staging = tmp_path / "staging"
    generate_big_export(staging, 20_000, formats=("json",))
    with _instance(home) as instance:
        assert list(instance.get_runs()) == []
    log = (tmp_path / "daemon.log").open("w")
    daemon = subprocess.Popen(
        [str(DAEMON), "run", "-m", "tg_pipeline.definitions"],
        cwd=tmp_path,
        env=_env(home, paths.data_dir),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        (staging / "json").rename(paths.inbox / "big")
        holder = _wait_for_holder(paths, daemon)
        os.kill(holder.pid, signal.SIGKILL)
        seed = json.loads((seed_dir / "result.json").read_text(encoding="utf-8"))
        (paths.inbox / "next").mkdir()
        (paths.inbox / "next" / "result.json").write_text(json.dumps(seed), "utf-8")
        with _instance(home) as instance:
            deadline = time.monotonic() + DEADLINE_S
            while True:
                assert daemon.poll() is None, "dagster-daemon exited"
                killed = instance.get_run_by_id(holder.run_id)
                others = [r for r in instance.get_runs() if r.run_id != holder.run_id]
                if killed.status in FINISHED and any(
                    r.status == dg.DagsterRunStatus.SUCCESS for r in others
                ):
                    break
                assert time.monotonic() < deadline, (tmp_path / "daemon.log").read_text()
                time.sleep(1.0)
            assert killed.status == dg.DagsterRunStatus.FAILURE
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
        log.close()
    assert scalar(paths, "SELECT count(*) FROM messages") == 12


def _wait_for_holder(paths: DataPaths, daemon: subprocess.Popen) -> Holder:
    """The run that holds the warehouse, once it holds it."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        assert daemon.poll() is None, "dagster-daemon exited"
        holder = read_holder(paths.warehouse)
        if holder is not None and holder.alive and holder.run_id and holder.pid:
            return holder
        assert time.monotonic() < deadline, "no run took the warehouse"
        time.sleep(0.2)


def _instance(home: Path) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))


def _wait_for_runs(home: Path, daemon: subprocess.Popen) -> list[dg.DagsterRun]:
    deadline = time.monotonic() + DEADLINE_S
    with _instance(home) as instance:
        while time.monotonic() < deadline:
            assert daemon.poll() is None, "dagster-daemon exited"
            runs = list(instance.get_runs())
            if len(runs) >= DUMPS and all(r.status in FINISHED for r in runs):
                return sorted(runs, key=lambda r: r.tags["dagster/partition"])
            time.sleep(1.0)
        states = [(r.run_id[:8], r.status.value) for r in instance.get_runs()]
    raise AssertionError(f"runs not finished within {DEADLINE_S}s: {states}")


def _assert_warehouse_steps_never_overlapped(home: Path, runs: list[dg.DagsterRun]) -> None:
    """Each step that opened the warehouse ran alone: the lock, not luck, kept them apart."""
    intervals: list[tuple[float, float, str]] = []
    with _instance(home) as instance:
        for run in runs:
            started: dict[str, float] = {}
            for record in instance.all_logs(run.run_id):
                event = record.dagster_event
                if event is None or event.step_key is None or event.step_key == "raw_dump":
                    continue
                if event.event_type == dg.DagsterEventType.STEP_START:
                    started[event.step_key] = record.timestamp
                elif event.event_type in (
                    dg.DagsterEventType.STEP_SUCCESS,
                    dg.DagsterEventType.STEP_FAILURE,
                ):
                    intervals.append((started[event.step_key], record.timestamp, event.step_key))
    assert len(intervals) >= 2 * DUMPS
    intervals.sort()
    for (_, end, key), (start, _, next_key) in itertools.pairwise(intervals):
        assert start >= end, f"{next_key} started before {key} had finished"
