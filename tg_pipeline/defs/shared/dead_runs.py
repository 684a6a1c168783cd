"""Runs whose process is gone: marked failed (or canceled), their pool slots given back.

Dagster learns that a run ended from the run itself; a run killed with ``kill -9``, by the
OOM killer or a restart says nothing and would stay ``STARTED`` for ever, holding its
``warehouse`` pool slot and a place in the run queue. The sweep asks the kernel instead
(:mod:`tg_pipeline.liveness`). It runs when any run starts its warehouse work, on every
inbox sensor tick (so the daemon's queue moves on without any new write) and in
``tg-pipeline status``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import dagster as dg

from tg_pipeline import liveness
from tg_pipeline.defs.names import UNAUDITED_JOBS, WAREHOUSE_POOL
from tg_pipeline.defs.shared import run_audit
from tg_pipeline.events import emit


def sweep_dead_runs(
    instance: dg.DagsterInstance,
    data_dir: Path,
    log: Callable[[str], None] | None = None,
    *,
    free_finished: bool = True,
) -> list[str]:
    """End the unfinished runs whose process has died; returns their run ids.

    Only runs whose liveness marker outlived their process are looked up, so a sweep that
    finds nothing asks Dagster nothing (``free_finished`` adds one query: the pool's slots
    still claimed by runs that have ended)."""
    swept: list[str] = []
    for run_id in liveness.gone_runs(data_dir):
        run = instance.get_run_by_id(run_id)
        if run is not None and not run.is_finished:
            pid = liveness.marker_pid(data_dir, run_id)
            who = f"pid {pid}" if pid is not None else "its process"
            if run.status == dg.DagsterRunStatus.CANCELING:
                instance.report_run_canceled(run, message=f"canceled: {who} ended before the run")
                verb = "canceled"
            else:
                instance.report_run_failed(
                    run,
                    message=f"{who}, which ran this run, is gone (killed or crashed); nothing "
                    "it had not committed was stored",
                )
                verb = "failed"
            swept.append(run_id)
            _audit_ended(instance, run_id, data_dir, f"{who}, which ran it, is gone")
            if log is not None:
                log(f"run {run_id} marked {verb}: {who}, which ran it, is gone")
        _free_slots(instance, run_id)
        liveness.forget(data_dir, run_id)
    if free_finished:
        _free_slots_of_finished_runs(instance)
    return swept


def _audit_ended(instance: dg.DagsterInstance, run_id: str, data_dir: Path, why: str) -> None:
    """The dead run cannot report its own end: run_failed or run_canceled go out from here,
    with the ids the run or the daemon would give them, so the outbox keeps one."""
    run = instance.get_run_by_id(run_id)
    if run is None or run.job_name in UNAUDITED_JOBS:
        return
    if run.status == dg.DagsterRunStatus.CANCELED:
        event = run_audit.run_canceled(instance, run)
    else:
        event = run_audit.run_failed(instance, run, [], fallback_error=why)
    with contextlib.suppress(Exception):  # a full outbox disk must not stop the sweep
        emit(data_dir, [event])


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
