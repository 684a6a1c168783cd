"""Audit events about a Dagster run, built the same way by the run itself and by the daemon.

A run writes its own lifecycle events (its hooks, see :mod:`tg_pipeline.defs.shared.hooks`)
so that runs started without a daemon are audited; the daemon's run-status sensors write the
same events when they run. Each event's id depends only on the run and what the event is,
never on who built it or when, so both copies land on one outbox row and reach Kafka once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from tg_pipeline.defs.names import PARTITION_TAG
from tg_pipeline.events import make_audit_event

MAX_TEXT = 500
#: The identity of a lifecycle event: one per run and type, whoever reports it.
LIFECYCLE = "lifecycle"

_STEP_END = {
    dg.DagsterEventType.STEP_SUCCESS,
    dg.DagsterEventType.STEP_FAILURE,
    dg.DagsterEventType.STEP_SKIPPED,
}


def envelope(run: dg.DagsterRun) -> dict[str, Any]:
    return {"run_id": run.run_id, "job": run.job_name, "dump": run.tags.get(PARTITION_TAG)}


def run_times(instance: dg.DagsterInstance, run_id: str) -> tuple[datetime | None, datetime | None]:
    record = instance.get_run_record_by_id(run_id)
    if record is None:
        return None, None
    start = getattr(record, "start_time", None)
    end = getattr(record, "end_time", None)
    return (
        datetime.fromtimestamp(start, UTC) if start else None,
        datetime.fromtimestamp(end, UTC) if end else None,
    )


def run_started(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dict[str, Any]:
    started, _ = run_times(instance, run.run_id)
    return make_audit_event(
        "run_started",
        **envelope(run),
        occurred_at=started,
        identity=LIFECYCLE,
        tags=public_tags(run.tags),
    )


def run_succeeded(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dict[str, Any]:
    started, ended = run_times(instance, run.run_id)
    ended = ended or datetime.now(UTC)
    return make_audit_event(
        "run_succeeded",
        **envelope(run),
        occurred_at=ended,
        identity=LIFECYCLE,
        duration_s=duration(started, ended),
    )


def run_failed(
    instance: dg.DagsterInstance,
    run: dg.DagsterRun,
    steps: list[dict[str, str]],
    fallback_error: str | None = None,
) -> dict[str, Any]:
    started, ended = run_times(instance, run.run_id)
    ended = ended or datetime.now(UTC)
    if steps:
        error = "; ".join(f"{s['step']}: {s['error']}" for s in steps)
    else:
        error = fallback_error or "run failed"
    return make_audit_event(
        "run_failed",
        **envelope(run),
        occurred_at=ended,
        identity=LIFECYCLE,
        error=error,
        failed_steps=steps,
        duration_s=duration(started, ended),
    )


def run_canceled(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dict[str, Any]:
    _, ended = run_times(instance, run.run_id)
    return make_audit_event(
        "run_canceled",
        **envelope(run),
        occurred_at=ended or datetime.now(UTC),
        identity=LIFECYCLE,
    )


def failed_steps(events: Iterable[dg.DagsterEvent]) -> list[dict[str, str]]:
    return [
        {"step": event.step_key or "?", "error": step_error(event)}
        for event in events
        if event.event_type == dg.DagsterEventType.STEP_FAILURE
    ]


def steps_state(
    instance: dg.DagsterInstance, run: dg.DagsterRun
) -> tuple[bool, list[dg.DagsterEvent]]:
    """(every step of the run's plan has ended, the step failure events so far)."""
    ended: set[str] = set()
    failures: list[dg.DagsterEvent] = []
    records = instance.get_records_for_run(run.run_id, of_type=_STEP_END).records
    for record in records:
        event = record.event_log_entry.dagster_event
        if event is None or event.step_key is None:
            continue
        ended.add(event.step_key)
        if event.event_type == dg.DagsterEventType.STEP_FAILURE:
            failures.append(event)
    to_run: set[str] = set()
    if run.execution_plan_snapshot_id:
        plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
        to_run = set(plan.step_keys_to_execute or (step.key for step in plan.steps))
    return bool(to_run) and to_run <= ended, failures


def run_log_events(instance: dg.DagsterInstance, run: dg.DagsterRun) -> Iterable[dict[str, Any]]:
    """asset_materialized for each materialization of the run, log_warning / log_error for
    each warning or error the run's code logged. Ids derive from the event-log entry, so a
    sensor tick that is retried, or the run and the daemon both, write the same events,
    which the outbox keeps once."""
    env = envelope(run)
    for entry in instance.all_logs(run.run_id):
        occurred = datetime.fromtimestamp(entry.timestamp, UTC)
        identity = f"{entry.timestamp!r}:{entry.step_key}"
        event = entry.dagster_event
        level = _level_number(entry.level)
        if event is not None and event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            materialization = event.event_specific_data.materialization  # type: ignore[union-attr]
            key = materialization.asset_key.to_user_string()
            yield make_audit_event(
                "asset_materialized",
                **{**env, "dump": materialization.partition or env["dump"]},
                occurred_at=occurred,
                identity=f"{identity}:{key}",
                asset_key=key,
                partition=materialization.partition,
                metadata=headline_numbers(materialization.metadata),
            )
        elif event is None and level >= logging.WARNING:
            kind = "log_error" if level >= logging.ERROR else "log_warning"
            yield make_audit_event(
                kind,
                **env,
                occurred_at=occurred,
                identity=identity,
                message=entry.user_message[:MAX_TEXT],
                step=entry.step_key,
                level=logging.getLevelName(level),
            )


def _level_number(level: str | int) -> int:
    """Dagster types an entry's level as a number or a name; the run's logs write numbers."""
    if isinstance(level, int):
        return level
    return logging.getLevelNamesMapping().get(level.upper(), logging.NOTSET)


def headline_numbers(metadata: Mapping[str, dg.MetadataValue]) -> dict[str, Any]:
    """The numbers and short texts of a materialization; tables and markdown are left out."""
    out: dict[str, Any] = {}
    for name, value in metadata.items():
        raw = getattr(value, "value", None)
        if isinstance(raw, bool | int | float):
            out[name] = raw
        elif isinstance(value, dg.TextMetadataValue | dg.PathMetadataValue) and raw:
            text = str(raw)
            if len(text) <= MAX_TEXT:
                out[name] = text
    return out


def step_error(event: dg.DagsterEvent) -> str:
    data = event.step_failure_data
    if data.user_failure_data is not None and data.user_failure_data.description:
        return data.user_failure_data.description
    if data.error is not None:
        return data.error.message.strip()
    return event.message or "step failed"


def duration(started: datetime | None, ended: datetime | None) -> float | None:
    if started is None or ended is None:
        return None
    return round((ended - started).total_seconds(), 3)


def public_tags(tags: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if not k.startswith(".")}
