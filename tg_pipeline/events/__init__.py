"""Count and audit events: built here, kept in a durable outbox, relayed to Kafka.

Runs and sensors only ever call :func:`emit`; it writes to the outbox file under the data
directory and never touches the network, so a missing broker cannot fail them.
Imports only ``tg_pipeline.errors`` from the project: no Dagster, no warehouse.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from tg_pipeline.events.outbox import OUTBOX_FILENAME, Backlog, Outbox, emit
    from tg_pipeline.events.settings import KafkaSettings

#: Each exported name and the submodule that defines it; loaded on first use, so the
#: settings can be read without the outbox or the event schemas.
_EXPORTS = {
    "AUDIT_EVENT_TYPES": "model",
    "COUNT_EVENT_TYPE": "model",
    "OUTBOX_FILENAME": "outbox",
    "SCHEMA_VERSION": "model",
    "Backlog": "outbox",
    "InvalidEvent": "model",
    "KafkaSettings": "settings",
    "Outbox": "outbox",
    "decode_event": "model",
    "emit": "outbox",
    "make_audit_event": "model",
    "make_count_event": "model",
    "validate_event": "model",
}

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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
