"""Runs whose process is gone: marked failed (or canceled), their pool slots given back.

Dagster learns that a run ended from the run itself; a run killed with ``kill -9``, by the
OOM killer or a restart says nothing and would stay ``STARTED`` for ever, holding its
``warehouse`` pool slot and a place in the run queue. The sweep asks the kernel instead
(:mod:`tg_pipeline.liveness`). It runs when any run starts its warehouse work, on every
inbox sensor tick (so the daemon's queue moves on without any new write) and in
``tg-pipeline status``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import dagster as dg

from tg_pipeline import liveness

WAREHOUSE_POOL = "warehouse"

_UNFINISHED = [
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def sweep_dead_runs(
    instance: dg.DagsterInstance, data_dir: Path, log: Callable[[str], None] | None = None
) -> list[str]:
    """End the unfinished runs whose process has died; returns their run ids."""
    swept: list[str] = []
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=_UNFINISHED))
    for run in runs:
        if not liveness.process_gone(data_dir, run.run_id):
            continue
        pid = liveness.marker_pid(data_dir, run.run_id)
        who = f"pid {pid}" if pid is not None else "its process"
        current = instance.get_run_by_id(run.run_id)
        if current is None or current.is_finished:
            liveness.forget(data_dir, run.run_id)
            continue
        canceling = current.status == dg.DagsterRunStatus.CANCELING
        if canceling:
            instance.report_run_canceled(
                current, message=f"canceled: {who} ended before the run did"
            )
        else:
            instance.report_run_failed(
                current,
                message=f"{who} running this run is gone (killed or crashed); nothing it "
                "had not committed was stored",
            )
        _free_slots(instance, run.run_id)
        liveness.forget(data_dir, run.run_id)
        swept.append(run.run_id)
        if log is not None:
            log(f"run {run.run_id} marked {'canceled' if canceling else 'failed'}: {who} is gone")
    _free_slots_of_finished_runs(instance)
    return swept


def _free_slots(instance: dg.DagsterInstance, run_id: str) -> None:
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        storage.free_concurrency_slots_for_run(run_id)


def _free_slots_of_finished_runs(instance: dg.DagsterInstance) -> None:
    """Slots still claimed by runs that have ended (a run canceled from outside its process
    never gives them back itself; run monitoring would, but only where a daemon runs)."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return
    try:
        info = storage.get_concurrency_info(WAREHOUSE_POOL)
    except Exception:  # an instance with no such pool yet
        return
    holders = {slot.run_id for slot in info.claimed_slots if slot.run_id}
    holders |= {step.run_id for step in info.pending_steps if step.run_id}
    for run_id in holders:
        run = instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            storage.free_concurrency_slots_for_run(run_id)
