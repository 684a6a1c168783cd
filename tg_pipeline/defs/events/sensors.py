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
from datetime import datetime
from typing import Any

import dagster as dg

from tg_pipeline.defs.events.jobs import audit_job
from tg_pipeline.defs.names import AUDIT_LAG_TAG, UNAUDITED_JOBS
from tg_pipeline.defs.shared import run_audit
from tg_pipeline.defs.shared.kafka import KafkaResource
from tg_pipeline.defs.shared.settings import PipelineSettings
from tg_pipeline.events import Outbox, emit
from tg_pipeline.events.consumer import AUDIT_GROUP_ID, audit_lag
from tg_pipeline.events.errors import BrokerUnavailable
from tg_pipeline.events.relay import Relay

RELAY_INTERVAL_SECONDS = 15
AUDIT_INTERVAL_SECONDS = 30
RUN_STATUS_INTERVAL_SECONDS = 10
#: A sensor tick may take 60 s; one relay pass stays well below that.
RELAY_PASS_SECONDS = 40.0


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
    return dg.RunRequest(tags={AUDIT_LAG_TAG: str(lag)})


def _data_dir(settings: PipelineSettings) -> Any:
    return settings.paths().data_dir


def _audited(run: dg.DagsterRun) -> bool:
    return run.job_name not in UNAUDITED_JOBS


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.STARTED,
    name="audit_run_started",
    minimum_interval_seconds=RUN_STATUS_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Writes a run_started audit event to the outbox for every run (the run "
    "writes the same event itself; the outbox keeps one).",
)
def audit_run_started(context: dg.RunStatusSensorContext, settings: PipelineSettings) -> None:
    run = context.dagster_run
    if not _audited(run):
        return
    emit(_data_dir(settings), [run_audit.run_started(context.instance, run)])


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
    events = list(run_audit.run_log_events(context.instance, run))
    events.append(run_audit.run_succeeded(context.instance, run))
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
    steps = run_audit.failed_steps(context.get_step_failure_events())
    events = list(run_audit.run_log_events(context.instance, run))
    events.append(
        run_audit.run_failed(
            context.instance, run, steps, fallback_error=context.failure_event.message
        )
    )
    emit(_data_dir(settings), events)


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.CANCELED,
    name="audit_run_canceled",
    minimum_interval_seconds=RUN_STATUS_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Writes a run_canceled audit event, plus the run's materializations and "
    "warning/error log lines, for a canceled run.",
)
def audit_run_canceled(context: dg.RunStatusSensorContext, settings: PipelineSettings) -> None:
    run = context.dagster_run
    if not _audited(run):
        return
    events = list(run_audit.run_log_events(context.instance, run))
    events.append(run_audit.run_canceled(context.instance, run))
    emit(_data_dir(settings), events)


SENSORS = [
    outbox_relay,
    audit_log_sensor,
    audit_run_started,
    audit_run_succeeded,
    audit_run_failed,
    audit_run_canceled,
]
