"""Event shapes against the published JSON Schemas, checked by an independent validator."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import jsonschema
import pytest

from tg_pipeline.events import (
    AUDIT_EVENT_TYPES,
    InvalidEvent,
    decode_event,
    make_audit_event,
    make_count_event,
    validate_event,
)
from tg_pipeline.events.model import encode_event, key_of, load_schema, schema_for, stream_of


@dataclass(frozen=True)
class Snapshot:
    chat_id: int
    sender_key: str
    sender_name: str | None
    message_count: int
    first_message_at: datetime
    last_message_at: datetime


FIRST = datetime(2021, 3, 1, 9, 0, tzinfo=UTC)
LAST = datetime(2024, 5, 2, 18, 30, 15, tzinfo=timezone(timedelta(hours=3)))


def json_schema_errors(event: dict) -> list[str]:
    validator = jsonschema.Draft202012Validator(
        schema_for(event), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    return [e.message for e in validator.iter_errors(event)]


def test_schemas_are_valid_json_schema() -> None:
    for name in ("user_count", "audit"):
        jsonschema.Draft202012Validator.check_schema(load_schema(name))
    assert set(load_schema("audit")["properties"]["event_type"]["enum"]) == set(AUDIT_EVENT_TYPES)


def test_count_event_is_a_keyed_snapshot_with_a_stable_id() -> None:
    snap = Snapshot(-100123, "user42", "Ann", 17, FIRST, LAST)
    event = make_count_event(snap, run_id="run-1", job="ingest_job", dump="d1")
    assert json_schema_errors(event) == []
    validate_event(event)
    assert event["last_message_at"] == "2024-05-02T15:30:15.000000Z"
    assert event["message_count"] == 17
    assert key_of(event) == "-100123:user42"
    assert stream_of(event) == "counts"
    # Another run publishing the same count later gives the same id; a new count a new one.
    again = make_count_event(snap, run_id="run-2", job="ingest_job", dump="d2")
    assert again["event_id"] == event["event_id"]
    assert again["occurred_at"] >= event["occurred_at"]
    bumped = make_count_event(Snapshot(-100123, "user42", "Ann", 18, FIRST, LAST))
    assert bumped["event_id"] != event["event_id"]
    other_chat = make_count_event(Snapshot(-100124, "user42", "Ann", 17, FIRST, LAST))
    assert other_chat["event_id"] != event["event_id"]


def test_audit_event_ids_ignore_time_but_not_identity() -> None:
    a = make_audit_event("run_failed", run_id="r1", job="ingest_job", error="boom")
    b = make_audit_event(
        "run_failed",
        run_id="r1",
        job="ingest_job",
        error="boom",
        occurred_at=datetime(2030, 1, 1, tzinfo=UTC),
    )
    assert a["event_id"] == b["event_id"]
    assert b["occurred_at"] == "2030-01-01T00:00:00.000000Z"
    assert a["payload"] == {"error": "boom"}
    c = make_audit_event("log_warning", run_id="r1", message="slow", identity="storage-7")
    d = make_audit_event("log_warning", run_id="r1", message="slow", identity="storage-8")
    assert c["event_id"] != d["event_id"]
    for event in (a, c):
        assert json_schema_errors(event) == []
        assert key_of(event) == "r1"
        assert stream_of(event) == "audit"
    sensor_event = make_audit_event("dump_detected", dump="abc123", path="/inbox/x")
    assert key_of(sensor_event) == "abc123"


def test_payload_values_become_plain_json() -> None:
    from pathlib import Path

    event = make_audit_event(
        "backup_restored",
        run_id="r9",
        rows=3,
        backup=Path("/data/backups/m.parquet"),
        at=datetime(2024, 1, 1, 12, tzinfo=UTC),
        chats={5, 6},
    )
    assert event["payload"]["backup"] == "/data/backups/m.parquet"
    assert event["payload"]["at"] == "2024-01-01T12:00:00.000000Z"
    assert sorted(event["payload"]["chats"]) == [5, 6]
    assert decode_event(encode_event(event)) == event


@pytest.mark.parametrize(
    ("event_type", "kwargs", "problem"),
    [
        ("run_failed", {"run_id": "r1"}, "error"),
        ("asset_materialized", {"run_id": "r1", "asset_key": "messages"}, "metadata"),
        ("messages_deleted", {"run_id": "r1", "deleted": -1}, "minimum"),
        ("dump_quarantined", {"dump": "d1"}, "error"),
        ("dump_detected", {}, "dump"),
        ("run_started", {}, "run_id"),
        ("no_such_type", {"run_id": "r1"}, "no_such_type"),
    ],
)
def test_invalid_audit_events_are_refused(event_type: str, kwargs: dict, problem: str) -> None:
    with pytest.raises(InvalidEvent, match=problem):
        make_audit_event(event_type, **kwargs)


def test_own_validator_agrees_with_jsonschema_on_broken_events() -> None:
    good_count = make_count_event(Snapshot(1, "user1", None, 1, FIRST, FIRST))
    good_audit = make_audit_event("run_succeeded", run_id="r", job="j")
    broken = [
        {**good_count, "message_count": "3"},
        {**good_count, "message_count": True},
        {**good_count, "schema_version": 2},
        {**good_count, "occurred_at": "yesterday"},
        {**good_count, "event_id": "not-a-uuid"},
        {**good_count, "sender_key": ""},
        {**good_count, "extra": 1},
        {k: v for k, v in good_count.items() if k != "chat_id"},
        {**good_audit, "payload": []},
        {**good_audit, "run_id": None},
        {**good_audit, "event_type": "run_failed"},
    ]
    for event in broken:
        assert json_schema_errors(event), event
        with pytest.raises(InvalidEvent):
            validate_event(event)
    for event in (good_count, good_audit):
        assert json_schema_errors(event) == []
        validate_event(event)


@pytest.mark.parametrize("raw", [b"", b"{", b"[1]", b'{"event_type": "run_started"}', None])
def test_decode_rejects_non_events(raw: bytes | None) -> None:
    with pytest.raises(InvalidEvent):
        decode_event(raw)
