"""Count events survive a failed or killed emit: the next run sends every one, once.

The counts commit and the outbox write are two stores; what sits between them is kept in
the warehouse (``count_events_pending``) until the outbox holds it. Both faults are made
real: a full disk under the outbox (a small tmpfs), and SIGKILL of the process at the
moment between the two writes. The kill runs on both warehouse backends; the full disk,
a fault of the outbox alone, on DuckDB.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tg_pipeline.config import KILL_BEFORE_COUNT_EVENTS_ENV
from tg_pipeline.events import OUTBOX_FILENAME
from tg_pipeline.warehouse.backend import WarehouseTarget
from tg_pipeline_tests.events_tests.delivery import (
    CROWD_CHAT_ID,
    SEED_CHAT_ID,
    Setup,
    crowd_export,
    duplicates,
    latest_counts,
    lifecycle,
    wait_for_events,
)
from tg_pipeline_tests.pg_warehouse import BACKENDS

SENDERS = 20_000


@contextlib.contextmanager
def small_tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"cannot mount a tmpfs in CI: {mounted.stderr.strip()}")
        pytest.skip(f"a full disk needs a small tmpfs, and mount refused: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def pending_in_warehouse(setup: Setup) -> int:
    url = setup.extra_env.get("TG_WAREHOUSE_URL")
    target = WarehouseTarget(setup.data_dir / "warehouse.duckdb", url)
    with target.open(read_only=True) as wh:
        con = wh.sql_con  # type: ignore[attr-defined]  # both backends have one
        return con.execute("SELECT count(*) FROM count_events_pending").fetchone()[0]


def crowd_delivered(expected: int):
    def ready(events: list[dict]) -> bool:
        return len(latest_counts(events, CROWD_CHAT_ID)) == expected

    return ready


@pytest.mark.slow
def test_full_outbox_disk_fails_the_run_and_the_next_run_sends_every_count(
    tmp_path: Path, kafka_broker: str, seed_dir: Path
) -> None:
    setup = Setup(tmp_path, kafka_broker)
    setup.prepare()
    crowd = crowd_export(tmp_path / "crowd" / "result.json", SENDERS)
    with small_tmpfs(tmp_path / "outbox_disk", "1m") as disk:
        setup.data_dir.mkdir(parents=True, exist_ok=True)
        (setup.data_dir / OUTBOX_FILENAME).symlink_to(disk / OUTBOX_FILENAME)

        full = setup.cli("ingest", str(crowd))

        assert full.returncode == 1, full.stdout + full.stderr
        errors = [line for line in full.stderr.splitlines() if "error" in line]
        assert len(errors) == 1 and "Traceback" not in full.stderr, full.stderr
        assert f"{SENDERS} count events could not be written to the outbox" in errors[0]
        assert "disk is full" in errors[0] and "next run" in errors[0]
        assert pending_in_warehouse(setup) == SENDERS

        # Space freed: the next run, of another dump, sends what the failed one left.
        subprocess.run(["mount", "-o", "remount,size=256m", str(disk)], check=True)
        freed = setup.cli("ingest", str(seed_dir / "result.json"))
        assert freed.returncode == 0, freed.stdout + freed.stderr
        assert pending_in_warehouse(setup) == 0
        events = wait_for_events(setup, crowd_delivered(SENDERS), within_s=60)

    crowd_counts = [e for e in events if e.get("chat_id") == CROWD_CHAT_ID]
    assert len(crowd_counts) == SENDERS
    assert duplicates(events) == []
    assert set(latest_counts(events, CROWD_CHAT_ID).values()) == {1}
    assert sum(latest_counts(events, SEED_CHAT_ID).values()) == 10


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_killed_between_counts_commit_and_outbox_write_the_next_run_sends_them(
    request: pytest.FixtureRequest, tmp_path: Path, kafka_broker: str, seed_dir: Path, backend: str
) -> None:
    on_pg = {"TG_WAREHOUSE_URL": request.getfixturevalue("pg_url")} if backend == "postgres" else {}
    setup = Setup(tmp_path, kafka_broker, extra_env=on_pg)
    setup.prepare()
    crowd = crowd_export(tmp_path / "crowd" / "result.json", senders=500)

    killed = setup.cli("ingest", str(crowd), **{KILL_BEFORE_COUNT_EVENTS_ENV: "1"})

    assert killed.returncode == -9, killed.stdout + killed.stderr
    assert pending_in_warehouse(setup) == 500
    # The next run, of another dump, on the same instance: it ends the dead run first.
    after = setup.cli("ingest", str(seed_dir / "result.json"))
    assert after.returncode == 0, after.stdout + after.stderr
    assert pending_in_warehouse(setup) == 0
    events = wait_for_events(setup, crowd_delivered(500))
    assert len([e for e in events if e.get("chat_id") == CROWD_CHAT_ID]) == 500
    assert duplicates(events) == []
    assert sum(latest_counts(events, SEED_CHAT_ID).values()) == 10
    # The killed run's own story: it started, and the sweep that found it dead ended it.
    dead = {e["run_id"] for e in events if e["event_type"] == "run_failed"}
    assert len(dead) == 1
    (dead_run,) = dead
    assert lifecycle(events, dead_run) == ["run_started", "run_failed"]
