"""The audit log table: events consumed from Kafka (or the outbox), stored once each.

A consumer may see an event again after a restart or a rebalance, so storing is
idempotent by ``event_id``: duplicates in the input and events already stored are
skipped, in one set-based insert.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa

from tg_pipeline.warehouse.dialect import DUCKDB, Dialect, SqlCon

_ENVELOPE = ("event_id", "event_type", "schema_version", "occurred_at", "run_id", "job", "dump")


def _instant(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _payload(event: dict[str, Any]) -> str:
    body = event.get("payload")
    if body is None:
        body = {k: v for k, v in event.items() if k not in _ENVELOPE}
    if isinstance(body, str):
        return body
    return orjson.dumps(body, default=str).decode()


def store_audit_events(
    con: SqlCon, events: Iterable[dict[str, Any]], dialect: Dialect = DUCKDB
) -> int:
    """Insert events not stored yet; return how many rows were added."""
    columns: dict[str, list[Any]] = {name: [] for name in (*_ENVELOPE, "payload")}
    for event in events:
        if not event.get("event_id") or not event.get("event_type"):
            continue
        columns["event_id"].append(str(event["event_id"]))
        columns["event_type"].append(str(event["event_type"]))
        version = event.get("schema_version")
        columns["schema_version"].append(int(version) if version is not None else None)
        columns["occurred_at"].append(_instant(event.get("occurred_at")))
        for name in ("run_id", "job", "dump"):
            value = event.get(name)
            columns[name].append(None if value is None else str(value))
        columns["payload"].append(_payload(event))
    if not columns["event_id"]:
        return 0
    table = pa.table(
        {
            "event_id": pa.array(columns["event_id"], pa.string()),
            "event_type": pa.array(columns["event_type"], pa.string()),
            "schema_version": pa.array(columns["schema_version"], pa.int32()),
            "occurred_at": pa.array(columns["occurred_at"], pa.timestamp("us", tz="UTC")),
            "run_id": pa.array(columns["run_id"], pa.string()),
            "job": pa.array(columns["job"], pa.string()),
            "dump": pa.array(columns["dump"], pa.string()),
            "payload": pa.array(columns["payload"], pa.string()),
        }
    )
    con.register("_tg_audit_in", table)
    try:
        any_value = dialect.any_value
        row = con.execute(
            dialect.counted(
                f"""
            INSERT INTO audit_log
            SELECT event_id, {any_value("event_type")}, {any_value("schema_version")},
                   {any_value("occurred_at")}, {any_value("run_id")}, {any_value("job")},
                   {any_value("dump")}, {any_value("payload")}, $1
            FROM _tg_audit_in
            WHERE event_id NOT IN (SELECT event_id FROM audit_log)
            GROUP BY event_id
            """
            ),
            [datetime.now(UTC)],
        ).fetchall()[0]
    finally:
        con.unregister("_tg_audit_in")
    return int(row[0]) if row else 0
