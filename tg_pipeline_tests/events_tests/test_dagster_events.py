"""The Dagster side of events: relay sensor, audit trigger, run-status audit, audit_log asset.

Runs are real ``ingest_job`` runs on a real instance; the sensors are evaluated with the
contexts Dagster builds for them; the broker is the real one from the session fixture.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from tg_pipeline.definitions import make_definitions
from tg_pipeline.defs.events.sensors import (
    audit_log_sensor,
    audit_run_failed,
    audit_run_started,
    audit_run_succeeded,
    outbox_relay,
)
from tg_pipeline.defs.shared.kafka import KafkaResource
from tg_pipeline.defs.shared.settings import PipelineSettings
from tg_pipeline.events import KafkaSettings, Outbox
from tg_pipeline.warehouse import Warehouse
from tg_pipeline_tests.dagster_harness import definitions_for, ingest, make_settings


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture
def settings(tmp_path: Path) -> PipelineSettings:
    return make_settings(tmp_path / "data")


def kafka_resource(settings: KafkaSettings) -> KafkaResource:
    return KafkaResource(
        bootstrap_servers=settings.bootstrap_servers,
        topic_prefix=settings.topic_prefix,
        partitions=settings.partitions,
        delivery_timeout_ms=settings.delivery_timeout_ms,
        session_timeout_ms=settings.session_timeout_ms,
    )


def audit_after(
    instance: dg.DagsterInstance,
    settings: PipelineSettings,
    result: dg.ExecuteInProcessResult,
) -> None:
    """What the daemon does after a run: evaluate the run-status sensors for it."""
    run = result.dagster_run
    resources = {"settings": settings}
    start = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_START)
    audit_run_started(
        dg.build_run_status_sensor_context(
            sensor_name="audit_run_started",
            dagster_event=start,
            dagster_instance=instance,
            dagster_run=run,
            resources=resources,
        )
    )
    if result.success:
        audit_run_succeeded(
            dg.build_run_status_sensor_context(
                sensor_name="audit_run_succeeded",
                dagster_event=result.get_run_success_event(),
                dagster_instance=instance,
                dagster_run=run,
                resources=resources,
            )
        )
    else:
        audit_run_failed(
            dg.build_run_status_sensor_context(
                sensor_name="audit_run_failed",
                dagster_event=result.get_run_failure_event(),
                dagster_instance=instance,
                dagster_run=run,
                resources=resources,
            ).for_run_failure()
        )


def outbox_events(settings: PipelineSettings) -> list[dict]:
    """Every event the runs and sensors wrote, delivered (by the run itself) or not."""
    outbox = Outbox.in_data_dir(settings.paths().data_dir)
    outbox.pending_count()  # creates the file and its table when nothing was written yet
    with sqlite3.connect(outbox.path) as con:
        rows = con.execute("SELECT value FROM outbox ORDER BY seq").fetchall()
    return [json.loads(value) for (value,) in rows]


def test_relay_sensor_without_broker_reports_the_backlog(
    instance: dg.DagsterInstance, settings: PipelineSettings, seed_dir: Path
) -> None:
    defs = definitions_for(settings)
    result = ingest(instance, defs, seed_dir / "result.json")
    assert result.success
    pending = Outbox.in_data_dir(settings.paths().data_dir).pending_count()
    assert pending > 0
    context = dg.build_sensor_context(
        instance=instance, resources={"settings": settings, "kafka": KafkaResource()}
    )
    skip = outbox_relay(context)
    assert isinstance(skip, dg.SkipReason)
    assert "No Kafka broker configured" in (skip.skip_message or "")
    assert f"{pending} events pending" in (skip.skip_message or "")
    assert json.loads(context.cursor)["pending"] == pending
    # The audit trigger stays quiet without a broker.
    trigger = audit_log_sensor(
        dg.build_sensor_context(instance=instance, resources={"kafka": KafkaResource()})
    )
    assert isinstance(trigger, dg.SkipReason)


@pytest.mark.slow
def test_runs_are_audited_and_land_in_audit_log(
    instance: dg.DagsterInstance,
    settings: PipelineSettings,
    kafka_settings: KafkaSettings,
    seed_dir: Path,
    tmp_path: Path,
) -> None:
    kafka = kafka_resource(kafka_settings)
    defs = make_definitions({"settings": settings, "kafka": kafka})

    ok = ingest(instance, defs, seed_dir / "result.json")
    assert ok.success
    audit_after(instance, settings, ok)
    broken = tmp_path / "broken" / "result.json"
    broken.parent.mkdir()
    text = (seed_dir / "result.json").read_text(encoding="utf-8")
    broken.write_text(text[: len(text) // 2], encoding="utf-8")
    failed = ingest(instance, defs, broken.parent, raise_on_error=False)
    # A bad dump is quarantined, not a failed run: the quarantine asset records it.
    assert failed.success
    audit_after(instance, settings, failed)

    events = outbox_events(settings)
    by_type: dict[str, list[dict]] = {}
    for event in events:
        by_type.setdefault(event["event_type"], []).append(event)
    ok_id, failed_id = ok.dagster_run.run_id, failed.dagster_run.run_id
    assert [e["run_id"] for e in by_type["run_started"]] == [ok_id, failed_id]
    assert [e["run_id"] for e in by_type["run_succeeded"]] == [ok_id, failed_id]
    assert "run_failed" not in by_type
    (quarantined,) = by_type["dump_quarantined"]
    assert quarantined["run_id"] == failed_id and quarantined["job"] == "ingest_job"
    assert quarantined["dump"] == failed.dagster_run.tags["dagster/partition"]
    assert "result.json" in quarantined["payload"]["error"]
    assert "the file is truncated" in quarantined["payload"]["error"]
    materialized = {
        e["payload"]["asset_key"]: e["payload"]["metadata"]
        for e in by_type["asset_materialized"]
        if e["run_id"] == ok_id
    }
    assert {"raw_dump", "messages", "user_message_counts"} <= set(materialized)
    assert all(isinstance(v, int | float | bool | str) for v in materialized["messages"].values())
    assert any(e["run_id"] == failed_id for e in by_type.get("log_error", []))
    # Evaluating the sensors again (a retried tick) adds nothing new to the outbox.
    before = len(events)
    audit_after(instance, settings, failed)
    assert len(outbox_events(settings)) == before

    # Relay, then the audit trigger sees lag and asks for audit_job.
    relay_context = dg.build_sensor_context(
        instance=instance, resources={"settings": settings, "kafka": kafka}
    )
    relay_skip = outbox_relay(relay_context)
    assert json.loads(relay_context.cursor)["pending"] == 0, relay_skip.skip_message
    request = audit_log_sensor(
        dg.build_sensor_context(instance=instance, resources={"kafka": kafka})
    )
    assert isinstance(request, dg.RunRequest)

    job = defs.resolve_job_def("audit_job")
    first = job.execute_in_process(instance=instance)
    metadata = first.asset_materializations_for_node("audit_log")[0].metadata
    audit_count = sum(1 for e in events if e["event_type"] != "user_count")
    assert metadata["new_rows"].value == audit_count
    assert metadata["total"].value == audit_count
    assert metadata["lag"].value == 0
    with Warehouse.open(settings.paths().warehouse, read_only=True) as wh:
        table = wh.con.execute("SELECT * EXCLUDE (stored_at) FROM audit_log ORDER BY 1").fetchall()
        stored_failure = wh.con.execute(
            "SELECT payload FROM audit_log WHERE event_type = 'dump_quarantined'"
        ).fetchall()
    assert json.loads(stored_failure[0][0])["error"] == quarantined["payload"]["error"]

    second = job.execute_in_process(instance=instance)
    metadata = second.asset_materializations_for_node("audit_log")[0].metadata
    assert (metadata["new_rows"].value, metadata["total"].value) == (0, audit_count)
    with Warehouse.open(settings.paths().warehouse, read_only=True) as wh:
        again = wh.con.execute("SELECT * EXCLUDE (stored_at) FROM audit_log ORDER BY 1").fetchall()
    assert again == table
    quiet = audit_log_sensor(dg.build_sensor_context(instance=instance, resources={"kafka": kafka}))
    assert isinstance(quiet, dg.SkipReason)


def test_audit_job_runs_are_not_audited(
    instance: dg.DagsterInstance, settings: PipelineSettings
) -> None:
    defs = make_definitions({"settings": settings, "kafka": KafkaResource()})
    result = defs.resolve_job_def("audit_job").execute_in_process(instance=instance)
    assert result.success
    metadata = result.asset_materializations_for_node("audit_log")[0].metadata
    assert metadata["broker"].value == "not configured"
    audit_after(instance, settings, result)
    assert outbox_events(settings) == []
