"""Sensors of the events domain: relay the outbox, start the audit consumer, audit runs.

- ``outbox_relay`` publishes pending events when a broker is configured. Its cursor and
  skip message always say how many events wait, so the backlog is visible in the UI even
  on a machine with no broker at all.
- ``audit_log_sensor`` starts ``audit_job`` when the audit consumer group lags.
- The run-status sensors turn run starts, successes, failures and cancellations, plus each
  finished run's materializations and warning/error log lines, into audit events in the
  outbox. ``audit_job``'s own runs are left out: auditing them would create lag, which
  starts ``audit_job`` again, forever.

Sensors never open the warehouse; they only touch the outbox file and the broker.
"""

import json
import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from tg_pipeline.assets.audit import audit_job
from tg_pipeline.events import Outbox, emit, make_audit_event
from tg_pipeline.events.consumer import AUDIT_GROUP_ID, audit_lag
from tg_pipeline.events.errors import BrokerUnavailable
from tg_pipeline.events.relay import Relay
from tg_pipeline.resources import PipelineSettings
from tg_pipeline.resources.kafka import KafkaResource

RELAY_INTERVAL_SECONDS = 15
AUDIT_INTERVAL_SECONDS = 30
RUN_STATUS_INTERVAL_SECONDS = 10
#: A sensor tick may take 60 s; one relay pass stays well below that.
RELAY_PASS_SECONDS = 40.0
#: Jobs whose runs are not audited (see the module docstring).
UNAUDITED_JOBS = frozenset({audit_job.name})
PARTITION_TAG = "dagster/partition"
MAX_TEXT = 500


@dg.sensor(
    name="outbox_relay",
    minimum_interval_seconds=RELAY_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Publishes pending count and audit events from <data_dir>/outbox.sqlite to "
    "Kafka, marking each delivered only on its ack. Without a broker it only reports the "
    "backlog (cursor and skip message).",
)
def outbox_relay(
    context: dg.SensorEvaluationContext, settings: PipelineSettings, kafka: KafkaResource
) -> dg.SkipReason:
    outbox = Outbox.in_data_dir(settings.paths().data_dir)
    if not kafka.enabled:
        backlog = outbox.backlog()
        context.update_cursor(_cursor(backlog, note="no broker configured"))
        return dg.SkipReason(
            f"No Kafka broker configured (TG_KAFKA_BOOTSTRAP); {backlog.summary()}"
        )
    relay = Relay(outbox, kafka.settings())
    result = relay.publish_pending(timeout_s=RELAY_PASS_SECONDS)
    backlog = outbox.backlog()
    context.update_cursor(_cursor(backlog, note=result.error or result.skipped))
    if result.error:
        context.log.warning(f"outbox relay: {result.error}")
    return dg.SkipReason(f"{result.summary()}; {backlog.summary()}")


def _cursor(backlog: Any, *, note: str | None) -> str:
    return json.dumps(
        {
            "pending": backlog.pending,
            "pending_counts": backlog.pending_counts,
            "pending_audit": backlog.pending_audit,
            "delivered": backlog.delivered,
            "cursor": backlog.cursor,
            "oldest_pending_at": _iso(backlog.oldest_pending_at),
            "last_delivery_at": _iso(backlog.last_delivery_at),
            "note": note,
        }
    )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


@dg.sensor(
    name="audit_log_sensor",
    job=audit_job,
    minimum_interval_seconds=AUDIT_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts audit_job when the audit topic has events the consumer group "
    f"{AUDIT_GROUP_ID!r} has not stored yet.",
)
def audit_log_sensor(
    context: dg.SensorEvaluationContext, kafka: KafkaResource
) -> dg.RunRequest | dg.SkipReason:
    if not kafka.enabled:
        return dg.SkipReason("No Kafka broker configured (TG_KAFKA_BOOTSTRAP)")
    try:
        lag = audit_lag(kafka.settings(), AUDIT_GROUP_ID)
    except BrokerUnavailable as exc:
        return dg.SkipReason(str(exc))
    if lag <= 0:
        return dg.SkipReason("audit_log is up to date with the audit topic")
    active = context.instance.get_runs(
        filters=dg.RunsFilter(
            job_name=audit_job.name,
            statuses=[
                dg.DagsterRunStatus.QUEUED,
                dg.DagsterRunStatus.NOT_STARTED,
                dg.DagsterRunStatus.STARTING,
                dg.DagsterRunStatus.STARTED,
            ],
        ),
        limit=1,
    )
    if active:
        return dg.SkipReason(f"{lag} audit events waiting; audit_job run already in progress")
    return dg.RunRequest(tags={"tg/audit_lag": str(lag)})


def _data_dir(settings: PipelineSettings) -> Any:
    return settings.paths().data_dir


def _audited(run: dg.DagsterRun) -> bool:
    return run.job_name not in UNAUDITED_JOBS


def _run_times(
    instance: dg.DagsterInstance, run_id: str
) -> tuple[datetime | None, datetime | None]:
    record = instance.get_run_record_by_id(run_id)
    if record is None:
        return None, None
    start = getattr(record, "start_time", None)
    end = getattr(record, "end_time", None)
    return (
        datetime.fromtimestamp(start, UTC) if start else None,
        datetime.fromtimestamp(end, UTC) if end else None,
    )


def _envelope(run: dg.DagsterRun) -> dict[str, Any]:
    return {"run_id": run.run_id, "job": run.job_name, "dump": run.tags.get(PARTITION_TAG)}


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.STARTED,
    name="audit_run_started",
    minimum_interval_seconds=RUN_STATUS_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Writes a run_started audit event to the outbox for every run.",
)
def audit_run_started(context: dg.RunStatusSensorContext, settings: PipelineSettings) -> None:
    run = context.dagster_run
    if not _audited(run):
        return
    started, _ = _run_times(context.instance, run.run_id)
    emit(
        _data_dir(settings),
        [
            make_audit_event(
                "run_started",
                **_envelope(run),
                occurred_at=started,
                tags=_public_tags(run.tags),
            )
        ],
    )


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    name="audit_run_succeeded",
    minimum_interval_seconds=RUN_STATUS_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Writes run_succeeded plus the run's materializations and warning/error log "
    "lines as audit events to the outbox.",
)
def audit_run_succeeded(context: dg.RunStatusSensorContext, settings: PipelineSettings) -> None:
    run = context.dagster_run
    if not _audited(run):
        return
    started, ended = _run_times(context.instance, run.run_id)
    events = list(run_log_events(context.instance, run))
    events.append(
        make_audit_event(
            "run_succeeded",
            **_envelope(run),
            occurred_at=ended,
            duration_s=_duration(started, ended),
        )
    )
    emit(_data_dir(settings), events)


@dg.run_failure_sensor(
    name="audit_run_failed",
    minimum_interval_seconds=RUN_STATUS_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Writes run_failed (with the error message of each failed step) plus the "
    "run's materializations and warning/error log lines as audit events to the outbox.",
)
def audit_run_failed(context: dg.RunFailureSensorContext, settings: PipelineSettings) -> None:
    run = context.dagster_run
    if not _audited(run):
        return
    started, ended = _run_times(context.instance, run.run_id)
    steps = [
        {"step": event.step_key, "error": _step_error(event)}
        for event in context.get_step_failure_events()
    ]
    if steps:
        error = "; ".join(f"{s['step']}: {s['error']}" for s in steps)
    else:
        error = context.failure_event.message or "run failed"
    events = list(run_log_events(context.instance, run))
    events.append(
        make_audit_event(
            "run_failed",
            **_envelope(run),
            occurred_at=ended,
            error=error,
            failed_steps=steps,
            duration_s=_duration(started, ended),
        )
    )
    emit(_data_dir(settings), events)


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.CANCELED,
    name="audit_run_canceled",
    minimum_interval_seconds=RUN_STATUS_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Writes a run_failed audit event (error 'run canceled') for a canceled run.",
)
def audit_run_canceled(context: dg.RunStatusSensorContext, settings: PipelineSettings) -> None:
    run = context.dagster_run
    if not _audited(run):
        return
    _, ended = _run_times(context.instance, run.run_id)
    events = list(run_log_events(context.instance, run))
    events.append(
        make_audit_event(
            "run_failed", **_envelope(run), occurred_at=ended, error="run canceled", canceled=True
        )
    )
    emit(_data_dir(settings), events)


def run_log_events(instance: dg.DagsterInstance, run: dg.DagsterRun) -> Iterable[dict[str, Any]]:
    """asset_materialized for each materialization of the run, log_warning / log_error for
    each warning or error the run's code logged. Ids derive from the event-log entry, so a
    sensor tick that is retried writes the same events again, which the outbox ignores."""
    envelope = _envelope(run)
    for entry in instance.all_logs(run.run_id):
        occurred = datetime.fromtimestamp(entry.timestamp, UTC)
        identity = f"{entry.timestamp!r}:{entry.step_key}"
        event = entry.dagster_event
        if event is not None and event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            materialization = event.event_specific_data.materialization  # type: ignore[union-attr]
            key = materialization.asset_key.to_user_string()
            yield make_audit_event(
                "asset_materialized",
                **{**envelope, "dump": materialization.partition or envelope["dump"]},
                occurred_at=occurred,
                identity=f"{identity}:{key}",
                asset_key=key,
                partition=materialization.partition,
                metadata=headline_numbers(materialization.metadata),
            )
        elif event is None and entry.level >= logging.WARNING:
            kind = "log_error" if entry.level >= logging.ERROR else "log_warning"
            yield make_audit_event(
                kind,
                **envelope,
                occurred_at=occurred,
                identity=identity,
                message=entry.user_message[:MAX_TEXT],
                step=entry.step_key,
                level=logging.getLevelName(entry.level),
            )


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


def _step_error(event: dg.DagsterEvent) -> str:
    data = event.step_failure_data
    if data.user_failure_data is not None and data.user_failure_data.description:
        return data.user_failure_data.description
    if data.error is not None:
        return data.error.message.strip()
    return event.message or "step failed"


def _duration(started: datetime | None, ended: datetime | None) -> float | None:
    if started is None or ended is None:
        return None
    return round((ended - started).total_seconds(), 3)


def _public_tags(tags: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if not k.startswith(".")}


EVENT_SENSORS = [
    outbox_relay,
    audit_log_sensor,
    audit_run_started,
    audit_run_succeeded,
    audit_run_failed,
    audit_run_canceled,
]
