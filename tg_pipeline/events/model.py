"""Event shapes: how count and audit events are built, identified, keyed and checked.

Event ids are UUIDv5 over what an event *is* (never over when it was produced), so an event
rebuilt after a crash or a retry keeps its id and every consumer can drop repeats by id.
The JSON Schemas in ``schemas/`` are the published contract; :func:`validate_event` checks
events against those same files so the code and the documented schema cannot drift apart.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import PurePath
from typing import Any, Protocol

import orjson

SCHEMA_VERSION = 1
COUNT_EVENT_TYPE = "user_count"
AUDIT_EVENT_TYPES = (
    "run_started",
    "run_succeeded",
    "run_failed",
    "run_canceled",
    "asset_materialized",
    "log_warning",
    "log_error",
    "dump_detected",
    "dump_duplicate",
    "dump_quarantined",
    "dump_ingested",
    "messages_deleted",
    "backup_restored",
)

#: Namespace of every tg_pipeline event id; changing it would re-identify all events.
EVENT_NAMESPACE = uuid.UUID("6f1d3c52-8f0e-5b8a-9a3e-2b7c5d1e4a90")


class InvalidEvent(ValueError):
    """An event that does not match its published JSON Schema."""


class CountLike(Protocol):
    """The fields of ``tg_pipeline.warehouse.CountSnapshot`` that a count event carries.

    Read-only properties, so the warehouse's frozen dataclasses satisfy it.
    """

    @property
    def chat_id(self) -> int: ...
    @property
    def sender_key(self) -> str: ...
    @property
    def sender_name(self) -> str | None: ...
    @property
    def message_count(self) -> int: ...
    @property
    def first_message_at(self) -> datetime: ...
    @property
    def last_message_at(self) -> datetime: ...


def utc_iso(moment: datetime) -> str:
    """ISO-8601 in UTC with a ``Z`` suffix; naive datetimes are taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def event_id_for(*identity: object) -> str:
    text = "\x1f".join("" if part is None else str(part) for part in identity)
    return str(uuid.uuid5(EVENT_NAMESPACE, text))


def make_count_event(
    snapshot: CountLike,
    *,
    run_id: str | None = None,
    job: str | None = None,
    dump: str | None = None,
    occurred_at: datetime | None = None,
    version: int | None = None,
) -> dict[str, Any]:
    """A count snapshot event; its id depends only on the snapshot itself (chat, sender,
    count, first and last time, name) and the warehouse's count ``version`` when given, so
    re-publishing the same change is a no-op for consumers, while a rename, a changed first
    message, or a count that comes back to an earlier value after a later change goes out."""
    first = utc_iso(snapshot.first_message_at)
    last = utc_iso(snapshot.last_message_at)
    identity: list[object] = [
        COUNT_EVENT_TYPE,
        snapshot.chat_id,
        snapshot.sender_key,
        snapshot.message_count,
        last,
        first,
        snapshot.sender_name,
    ]
    if version is not None:
        identity.append(f"v{version}")
    return {
        "event_id": event_id_for(*identity),
        "event_type": COUNT_EVENT_TYPE,
        "schema_version": SCHEMA_VERSION,
        "occurred_at": utc_iso(occurred_at or datetime.now(UTC)),
        "run_id": run_id,
        "job": job,
        "dump": dump,
        "chat_id": int(snapshot.chat_id),
        "sender_key": snapshot.sender_key,
        "sender_name": snapshot.sender_name,
        "message_count": int(snapshot.message_count),
        "first_message_at": first,
        "last_message_at": last,
    }


def make_audit_event(
    event_type: str,
    *,
    run_id: str | None = None,
    job: str | None = None,
    dump: str | None = None,
    **payload: Any,
) -> dict[str, Any]:
    """An audit event. Keyword arguments other than the envelope become the payload.

    Two keywords are not payload: ``occurred_at`` (a datetime; default now) and ``identity``
    (a string that makes the event unique, e.g. a Dagster event-log storage id; by default
    the type, run, job, dump and payload identify it, so the same fact reported twice keeps
    one id). Raises :class:`InvalidEvent` when a type's required payload field is missing.
    """
    occurred_at = payload.pop("occurred_at", None)
    identity = payload.pop("identity", None)
    body = _jsonable(payload)
    if identity is None:
        identity = orjson.dumps(body, option=orjson.OPT_SORT_KEYS).decode()
    event = {
        "event_id": event_id_for(event_type, run_id, job, dump, identity),
        "event_type": event_type,
        "schema_version": SCHEMA_VERSION,
        "occurred_at": utc_iso(occurred_at or datetime.now(UTC)),
        "run_id": run_id,
        "job": job,
        "dump": dump,
        "payload": body,
    }
    validate_event(event)
    return event


def stream_of(event: Mapping[str, Any]) -> str:
    """Which topic family an event goes to: ``counts`` or ``audit``."""
    return "counts" if event.get("event_type") == COUNT_EVENT_TYPE else "audit"


def key_of(event: Mapping[str, Any]) -> str | None:
    """Kafka key: per sender for counts (so compaction keeps the latest), per run for audit
    (so one run's events stay ordered on one partition)."""
    if event.get("event_type") == COUNT_EVENT_TYPE:
        return f"{event['chat_id']}:{event['sender_key']}"
    return event.get("run_id") or event.get("dump") or event.get("event_type")


def encode_event(event: Mapping[str, Any]) -> bytes:
    return orjson.dumps(event)


def decode_event(raw: bytes | str | None) -> dict[str, Any]:
    """Parse one message value; raises :class:`InvalidEvent` for anything but a valid event."""
    if raw is None:
        raise InvalidEvent("empty message value")
    try:
        event = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(f"not JSON: {exc}") from None
    if not isinstance(event, dict):
        raise InvalidEvent("not a JSON object")
    validate_event(event)
    return event


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The published schema ``user_count`` or ``audit`` from the package data."""
    text = resources.files("tg_pipeline.events").joinpath(f"schemas/{name}.schema.json")
    return orjson.loads(text.read_bytes())


def schema_for(event: Mapping[str, Any]) -> dict[str, Any]:
    return load_schema("user_count" if stream_of(event) == "counts" else "audit")


def validate_event(event: Mapping[str, Any]) -> None:
    """Check an event against its published schema; raises :class:`InvalidEvent`."""
    problems: list[str] = []
    _checker("user_count" if stream_of(event) == "counts" else "audit")(event, "$", problems)
    if problems:
        raise InvalidEvent("; ".join(problems))


def _jsonable(value: Any) -> Any:
    """Payload values as plain JSON: datetimes in UTC ISO, paths and other objects as text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return utc_iso(value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return str(value)


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def _is_type(value: Any, name: str) -> bool:
    if isinstance(value, bool) and name in ("integer", "number"):
        return False
    return isinstance(value, _JSON_TYPES[name])


def _valid_format(value: str, fmt: str) -> bool:
    try:
        if fmt == "date-time":
            return "T" in value and datetime.fromisoformat(value).tzinfo is not None
        if fmt == "uuid":
            return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False
    return True


_Checker = Callable[[Any, str, list[str]], None]


@cache
def _checker(name: str) -> _Checker:
    return _compile(load_schema(name))


def _compile(schema: Mapping[str, Any]) -> _Checker:
    """A checker for the subset of JSON Schema 2020-12 that the event schemas use.

    Compiled once per schema: validating every event of a 100k batch must stay cheap.
    """
    types = schema.get("type")
    type_names = (types if isinstance(types, list) else [types]) if types else []
    has_const, const = "const" in schema, schema.get("const")
    enum = schema.get("enum")
    min_length = schema.get("minLength", 0)
    fmt = schema.get("format")
    minimum = schema.get("minimum")
    required = tuple(schema.get("required", ()))
    props = {name: _compile(sub) for name, sub in schema.get("properties", {}).items()}
    closed = schema.get("additionalProperties") is False
    all_of = [_compile(sub) for sub in schema.get("allOf", ())]
    if_check = _compile(schema["if"]) if "if" in schema else None
    then_check = _compile(schema.get("then", {})) if if_check else None

    def check(value: Any, path: str, out: list[str]) -> None:
        if type_names and not any(_is_type(value, n) for n in type_names):
            out.append(f"{path}: expected {' or '.join(type_names)}, got {type(value).__name__}")
            return
        if has_const and (value != const or type(value) is not type(const)):
            out.append(f"{path}: must be {const!r}")
        if enum is not None and value not in enum:
            out.append(f"{path}: {value!r} is not one of {enum}")
        if isinstance(value, str):
            if len(value) < min_length:
                out.append(f"{path}: shorter than {min_length}")
            if fmt and not _valid_format(value, fmt):
                out.append(f"{path}: {value!r} is not a valid {fmt}")
        if minimum is not None and _is_type(value, "number") and value < minimum:
            out.append(f"{path}: below minimum {minimum}")
        if isinstance(value, dict):
            for name in required:
                if name not in value:
                    out.append(f"{path}: missing required field {name!r}")
            for name, item in value.items():
                sub = props.get(name)
                if sub is not None:
                    sub(item, f"{path}.{name}", out)
                elif closed:
                    out.append(f"{path}: unexpected field {name!r}")
        for sub in all_of:
            sub(value, path, out)
        if if_check is not None and then_check is not None:
            probe: list[str] = []
            if_check(value, path, probe)
            if not probe:
                then_check(value, path, out)

    return check
