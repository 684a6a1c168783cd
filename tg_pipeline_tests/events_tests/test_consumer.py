"""The audit consumer: topic → audit_log, offsets committed only after the rows."""

from __future__ import annotations

import orjson
from confluent_kafka import Producer

from tg_pipeline.events import KafkaSettings, Outbox, make_audit_event
from tg_pipeline.events.consumer import audit_lag, consume_audit, consume_audit_log
from tg_pipeline.events.relay import Relay

TABLE = (
    "SELECT event_id, event_type, run_id, job, dump, payload::VARCHAR, occurred_at"
    " FROM audit_log ORDER BY event_id"
)


def run_events(run_id: str, *, fail: str | None = None) -> list[dict]:
    events = [
        make_audit_event("run_started", run_id=run_id, job="ingest_job", dump="d-" + run_id),
        make_audit_event(
            "asset_materialized",
            run_id=run_id,
            job="ingest_job",
            dump="d-" + run_id,
            asset_key="messages",
            metadata={"new": 120, "updated": 3, "unchanged": 0},
        ),
    ]
    if fail:
        events.append(make_audit_event("run_failed", run_id=run_id, job="ingest_job", error=fail))
    else:
        events.append(make_audit_event("run_succeeded", run_id=run_id, job="ingest_job"))
    return events


def test_consuming_twice_gives_the_same_table(
    outbox: Outbox, kafka_settings: KafkaSettings, audit_store
) -> None:
    error = "messages: result.json: messages[17]: unexpected end of data"
    events = run_events("run-ok") + run_events("run-bad", fail=error)
    outbox.add(events)
    assert Relay(outbox, kafka_settings).publish_pending().delivered == 6
    assert audit_lag(kafka_settings, "audit-a") > 0

    first = consume_audit_log(kafka_settings, audit_store, "audit-a")
    assert (first.consumed, first.new_rows, first.invalid, first.lag) == (6, 6, 0, 0)
    table = audit_store.con.execute(TABLE).fetchall()
    assert audit_lag(kafka_settings, "audit-a") == 0

    # Same group: offsets were committed, nothing is read again.
    assert consume_audit(kafka_settings, audit_store, "audit-a") == 0
    # Another group re-reads the whole topic; dedupe by event_id leaves the table as it was.
    again = consume_audit_log(kafka_settings, audit_store, "audit-b")
    assert (again.consumed, again.new_rows) == (6, 0)
    assert audit_store.con.execute(TABLE).fetchall() == table

    failed = audit_store.con.execute(
        "SELECT run_id, job, payload->>'error' FROM audit_log WHERE event_type = 'run_failed'"
    ).fetchall()
    assert failed == [("run-bad", "ingest_job", error)]
    materialized = audit_store.con.execute(
        "SELECT payload->'metadata'->>'new' FROM audit_log"
        " WHERE event_type = 'asset_materialized' AND run_id = 'run-ok'"
    ).fetchall()
    assert materialized == [("120",)]


def test_invalid_messages_are_skipped_and_committed(
    outbox: Outbox, kafka_settings: KafkaSettings, audit_store
) -> None:
    outbox.add(run_events("run-1"))
    Relay(outbox, kafka_settings).publish_pending()
    producer = Producer({"bootstrap.servers": kafka_settings.bootstrap_servers})
    count_event_on_wrong_topic = orjson.dumps(
        {"event_type": "user_count", "event_id": "x", "chat_id": 1}
    )
    for value in (b"not json", b'{"event_type": "run_started"}', count_event_on_wrong_topic):
        producer.produce(kafka_settings.audit_topic, value=value, key=b"junk")
    assert producer.flush(10) == 0

    result = consume_audit_log(kafka_settings, audit_store, "audit-junk")
    assert (result.new_rows, result.invalid) == (3, 3)
    assert any("not JSON" in sample for sample in result.invalid_samples)
    assert consume_audit_log(kafka_settings, audit_store, "audit-junk").consumed == 0
    assert audit_store.con.execute("SELECT count(*) FROM audit_log").fetchone() == (3,)


def test_lag_is_zero_for_a_missing_topic(kafka_settings: KafkaSettings) -> None:
    assert audit_lag(kafka_settings, "nobody") == 0
    assert audit_lag(KafkaSettings(), "nobody") == 0
