"""Count and audit events: built here, kept in a durable outbox, relayed to Kafka.

Runs and sensors only ever call :func:`emit`; it writes to the outbox file under the data
directory and never touches the network, so a missing broker cannot fail them.
Imports only ``tg_pipeline.errors`` from the project: no Dagster, no warehouse.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tg_pipeline.events.model import (
    AUDIT_EVENT_TYPES,
    COUNT_EVENT_TYPE,
    SCHEMA_VERSION,
    InvalidEvent,
    decode_event,
    make_audit_event,
    make_count_event,
    validate_event,
)
from tg_pipeline.events.outbox import OUTBOX_FILENAME, Backlog, Outbox
from tg_pipeline.events.settings import KafkaSettings


def emit(data_dir: Path | str, events: Iterable[Mapping[str, Any]]) -> int:
    """Queue events in ``<data_dir>/outbox.sqlite``; returns how many were new there."""
    return Outbox.in_data_dir(data_dir).add(events)


__all__ = [
    "AUDIT_EVENT_TYPES",
    "COUNT_EVENT_TYPE",
    "OUTBOX_FILENAME",
    "SCHEMA_VERSION",
    "Backlog",
    "InvalidEvent",
    "KafkaSettings",
    "Outbox",
    "decode_event",
    "emit",
    "make_audit_event",
    "make_count_event",
    "validate_event",
]
