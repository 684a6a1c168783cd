"""Runs deliver their own events: the CLI and `dagster job execute`, with or without a daemon.

Real processes against the real broker; a plain confluent-kafka reader checks the topics.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import dagster as dg
import orjson
import pytest
from dagster._core.instance.ref import InstanceRef

from tg_pipeline.config import DRAIN_TIMEOUT_ENV
from tg_pipeline.defs.names import EVENTS_WAITING_TAG
from tg_pipeline.events import Outbox
from tg_pipeline_tests.events_tests.delivery import (
    CLI,
    SEED_CHAT_ID,
    Setup,
    crowd_export,
    duplicates,
    latest_counts,
    lifecycle,
    read_topics,
    wait_for_events,
)
from tg_pipeline_tests.kafka_broker import LoopbackProxy


def _ingest_then_job_execute(setup: Setup, seed_dir: Path) -> tuple[list[dict], str, str]:
    setup.prepare()
    ingest = setup.cli("ingest", str(seed_dir / "result.json"), "--format", "jsonl")
    assert ingest.returncode == 0, ingest.stdout + ingest.stderr
    cli_run = json.loads(ingest.stdout.splitlines()[0])["run_id"]

    def first_ready(events: list[dict]) -> bool:
        return sum(latest_counts(events, SEED_CHAT_ID).values()) == 10 and lifecycle(
            events, cli_run
        ) == ["run_started", "run_succeeded"]

    events = wait_for_events(setup, first_ready)
    assert sum(latest_counts(events, SEED_CHAT_ID).values()) == 10
    assert lifecycle(events, cli_run) == ["run_started", "run_succeeded"]

    setup.inbox.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(seed_dir / "messages.html", setup.inbox / "seed_chat.html")
    job = setup.job_execute("ingest_inbox_job")
    assert job.returncode == 0, job.stdout[-3000:] + job.stderr[-3000:]
    assert (setup.data_dir / "processed" / "seed_chat.html").is_file()

    def job_run(events: list[dict]) -> str | None:
        runs = {e["run_id"] for e in events if e["job"] == "ingest_inbox_job"}
        return runs.pop() if len(runs) == 1 else None

    def second_ready(events: list[dict]) -> bool:
        run = job_run(events)
        return run is not None and lifecycle(events, run) == ["run_started", "run_succeeded"]

    events = wait_for_events(setup, second_ready)
    job_run_id = job_run(events)
    assert job_run_id is not None, events
    assert lifecycle(events, job_run_id) == ["run_started", "run_succeeded"]
    # The HTML dump is the same chat: the counts stay as the JSON made them.
    assert sum(latest_counts(events, SEED_CHAT_ID).values()) == 10
    return events, cli_run, job_run_id


def test_cli_and_job_execute_deliver_without_a_daemon(
    tmp_path: Path, kafka_broker: str, seed_dir: Path
) -> None:
    setup = Setup(tmp_path, kafka_broker)
    events, cli_run, job_run = _ingest_then_job_execute(setup, seed_dir)
    assert duplicates(events) == []
    for run in (cli_run, job_run):
        # One partition per run on the audit topic: its events arrive in order.
        kinds = [e["event_type"] for e in events if e["run_id"] == run and "payload" in e]
        assert kinds[0] == "run_started" and kinds[-1] == "run_succeeded", kinds
        assert "dump_ingested" in kinds
    assert {e["event_type"] for e in events} >= {"user_count", "dump_ingested"}


@pytest.mark.slow
def test_with_the_daemon_running_each_event_arrives_once(
    tmp_path: Path, kafka_broker: str, seed_dir: Path
) -> None:
    """The daemon relays the outbox at the same time, and for the run its inbox sensor
    starts, its run-status sensors write the lifecycle events the run wrote itself."""
    setup = Setup(tmp_path, kafka_broker)
    setup.prepare()
    with _instance(setup.home) as instance:  # storage created before two processes race
        assert list(instance.get_runs()) == []
    watched = tmp_path / "watched_inbox"
    watched.mkdir()
    with setup.daemon(TG_INBOX_DIR=str(watched), TG_SETTLE_SECONDS="0") as daemon:
        # A run-status sensor reacts to the runs that end after its first tick.
        _wait_until_ticked(setup.home, "audit_run_succeeded", daemon)
        events, cli_run, job_run = _ingest_then_job_execute(setup, seed_dir)
        other_chat = json.loads((seed_dir / "result.json").read_text(encoding="utf-8"))
        other_chat.update(id=SEED_CHAT_ID + 1, name="another chat")
        (watched / "other.json").write_text(json.dumps(other_chat), encoding="utf-8")
        sensor_run = _wait_for_sensor_run(setup.home, daemon)
        _wait_until_reported(setup.home, "audit_run_succeeded", {sensor_run}, daemon)

        def all_there(events: list[dict]) -> bool:
            return lifecycle(events, sensor_run) == ["run_started", "run_succeeded"] and (
                sum(latest_counts(events, SEED_CHAT_ID + 1).values()) == 10
            )

        events = wait_for_events(setup, all_there, within_s=40)
    assert duplicates(events) == []
    for run in (cli_run, job_run, sensor_run):
        assert lifecycle(events, run) == ["run_started", "run_succeeded"], run
    assert sum(latest_counts(events, SEED_CHAT_ID).values()) == 10
    assert sum(latest_counts(events, SEED_CHAT_ID + 1).values()) == 10


def _wait_for_sensor_run(home: Path, daemon: subprocess.Popen, timeout_s: float = 120) -> str:
    """The id of the ingest run the inbox sensor started, once it has ended."""
    deadline = time.monotonic() + timeout_s
    with _instance(home) as instance:
        while time.monotonic() < deadline:
            assert daemon.poll() is None, "dagster-daemon exited"
            runs = [r for r in instance.get_runs() if "dagster/sensor_name" in r.tags]
            runs = [r for r in runs if r.job_name == "ingest_job"]
            if runs and runs[0].is_finished:
                assert runs[0].status == dg.DagsterRunStatus.SUCCESS
                return runs[0].run_id
            time.sleep(1.0)
    raise AssertionError("the inbox sensor started no ingest run")


def _instance(home: Path) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))


def _ticks(instance: dg.DagsterInstance, sensor: str) -> list:
    return [
        tick
        for state in instance.all_instigator_state()
        if state.instigator_name == sensor
        for tick in instance.get_ticks(state.instigator_origin_id, state.selector_id)
    ]


def _wait_until_ticked(
    home: Path, sensor: str, daemon: subprocess.Popen, timeout_s: float = 90
) -> None:
    deadline = time.monotonic() + timeout_s
    with _instance(home) as instance:
        while not _ticks(instance, sensor):
            assert daemon.poll() is None, "dagster-daemon exited"
            assert time.monotonic() < deadline, f"sensor {sensor} never ticked"
            time.sleep(0.5)


def _wait_until_reported(
    home: Path, sensor: str, run_ids: set[str], daemon: subprocess.Popen, timeout_s: float = 120
) -> None:
    """Until the daemon's run-status sensor ``sensor`` has reacted to every run given."""
    deadline = time.monotonic() + timeout_s
    seen: set[str] = set()
    with _instance(home) as instance:
        while time.monotonic() < deadline:
            assert daemon.poll() is None, "dagster-daemon exited"
            for tick in _ticks(instance, sensor):
                seen.update(tick.origin_run_ids or ())
            if run_ids <= seen:
                return
            time.sleep(1.0)
    raise AssertionError(f"sensor {sensor} reacted to {seen}, not all of {run_ids}")


def test_broker_down_the_run_succeeds_and_the_next_run_drains(
    tmp_path: Path, kafka_broker: str, seed_dir: Path
) -> None:
    broker_port = int(kafka_broker.rsplit(":", 1)[1])
    gate = LoopbackProxy(broker_port)  # not started: the broker's address refuses connections
    setup = Setup(tmp_path, f"127.0.0.1:{gate.port}", extra_env={DRAIN_TIMEOUT_ENV: "3"})
    setup.prepare()

    down = setup.cli("ingest", str(seed_dir / "result.json"), "--format", "jsonl")
    assert down.returncode == 0, down.stdout + down.stderr
    status = _status(setup)
    waiting = status["pending"]
    assert waiting >= 6 + 2  # six count events, run_started, run_succeeded, …
    assert f"tg-pipeline: {waiting} events wait for Kafka" in down.stderr
    run_id = json.loads(down.stdout.splitlines()[0])["run_id"]
    with _instance(setup.home) as instance:
        run = instance.get_run_by_id(run_id)
        assert run is not None and run.tags[EVENTS_WAITING_TAG] == str(waiting)
        logged = [e.user_message for e in instance.all_logs(run_id) if e.dagster_event is None]
    assert any(f"{waiting} events wait for Kafka" in line for line in logged)
    assert "Traceback" not in down.stderr
    assert {t["topic"]: t["waiting"] for t in status["topics"]} == {
        f"{setup.prefix}.user-counts": 6,
        f"{setup.prefix}.audit": waiting - 6,
    }
    assert "did not answer" in status["last_error"]
    assert status["kafka"]["reachable"] is False

    with gate:
        assert _status(setup)["kafka"]["reachable"] is True
        again = setup.cli("ingest", str(seed_dir / "messages.html"))
        assert again.returncode == 0, again.stdout + again.stderr
        assert "wait for Kafka" not in again.stderr
        after = _status(setup)
        events = read_topics(setup.bootstrap, setup.prefix)
    assert after["pending"] == 0 and after["last_error"] is None
    assert sum(t["delivered"] for t in after["topics"]) == len(events)
    assert duplicates(events) == []
    assert sum(latest_counts(events, SEED_CHAT_ID).values()) == 10
    runs = {e["run_id"] for e in events if e["event_type"] == "run_succeeded"}
    assert len(runs) == 2
    for run in runs:
        assert lifecycle(events, run) == ["run_started", "run_succeeded"]


def _status(setup: Setup) -> dict:
    result = setup.cli("status", "--format", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stderr, result.stderr  # no librdkafka lines on the terminal
    return json.loads(result.stdout)["events"]


def test_ctrl_c_in_the_cli_writes_run_canceled(tmp_path: Path) -> None:
    """No daemon watches a run of the command line: the command reports its cancel itself."""
    setup = Setup(tmp_path, "")
    setup.prepare()
    crowd = crowd_export(tmp_path / "crowd" / "result.json", senders=100_000)
    env = setup.env()
    env.pop("TG_KAFKA_BOOTSTRAP")
    command = subprocess.Popen(
        [str(CLI), "--data-dir", str(setup.data_dir), "ingest", str(crowd)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell that started pytest in the background leaves SIGINT ignored; a user's
        # terminal does not.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        run_id = _wait_for_started_run(setup)
        command.send_signal(signal.SIGINT)
        command.communicate(timeout=60)
    finally:
        if command.poll() is None:
            command.kill()
    outbox = Outbox.in_data_dir(setup.data_dir)
    events = [orjson.loads(row.value) for row in outbox.pending(limit=1_000_000)]
    kinds = [e["event_type"] for e in events if e["run_id"] == run_id and "payload" in e]
    assert kinds[0] == "run_started" and kinds.count("run_canceled") == 1, kinds
    assert "run_succeeded" not in kinds


def _wait_for_started_run(setup: Setup, timeout_s: float = 60) -> str:
    """The run's id once it has written its run_started, read from the outbox only: opening
    the Dagster instance while the command creates it would race its schema setup."""
    outbox = Outbox.in_data_dir(setup.data_dir)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if outbox.path.exists():
            for row in outbox.pending(limit=100):
                event = orjson.loads(row.value)
                if event["event_type"] == "run_started":
                    return event["run_id"]
        time.sleep(0.1)
    raise AssertionError("the ingest run never started")
