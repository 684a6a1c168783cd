"""The audit log stores each event once, however often a consumer sees it; on both backends."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from tg_pipeline_tests.warehouse_tests.builders import sql
from tg_pipeline_tests.warehouse_tests.conftest import AnyWarehouse


def _event(event_id: str, **payload: object) -> dict[str, object]:
    return {
        "event_id": event_id,
        "event_type": "dump_ingested",
        "schema_version": 1,
        "occurred_at": "2024-03-01T10:00:00.000000Z",
        "run_id": "run-1",
        "job": "ingest_job",
        "dump": "abc",
        "payload": payload,
    }


def test_events_are_stored_once(any_warehouse: AnyWarehouse) -> None:
    first = [_event("e1", new=3), _event("e2", new=0), _event("e1", new=3)]
    assert any_warehouse.store_audit_events(first) == 2
    assert any_warehouse.store_audit_events([_event("e2"), _event("e3", note="ünïcode")]) == 1
    assert any_warehouse.store_audit_events([]) == 0

    rows = sql(
        any_warehouse,
        "SELECT event_id, event_type, occurred_at, payload FROM audit_log ORDER BY event_id",
    )
    assert [r[0] for r in rows] == ["e1", "e2", "e3"]
    assert rows[0][2] == datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert orjson.loads(rows[0][3]) == {"new": 3}
    assert orjson.loads(rows[2][3]) == {"note": "ünïcode"}


def test_events_without_a_payload_keep_their_fields(any_warehouse: AnyWarehouse) -> None:
    event = {"event_id": "c1", "event_type": "user_message_count", "chat_id": 5, "message_count": 2}
    assert any_warehouse.store_audit_events([event]) == 1
    payload = sql(any_warehouse, "SELECT payload FROM audit_log")[0]
    assert payload is not None
    assert orjson.loads(payload[0]) == {"chat_id": 5, "message_count": 2}
