"""Who is ingesting, for audit events, and where those events go."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tg_pipeline.events import emit, make_audit_event

#: Receives each audit event the ingest path produces (the events outbox in production).
EventSink = Callable[[list[dict[str, Any]]], None]


@dataclass(frozen=True)
class RunContext:
    """Who is ingesting, for audit events: a Dagster run, a CLI command, a test."""

    run_id: str | None = None
    job: str | None = None
    emit: EventSink | None = None
    #: Where progress lines go (a run's log); the CLI's progress bar reads them from there.
    log: Callable[[str], None] | None = None

    def audit(self, event_type: str, *, dump: str | None, **payload: Any) -> None:
        if self.emit is None:
            return
        self.emit(
            [make_audit_event(event_type, run_id=self.run_id, job=self.job, dump=dump, **payload)]
        )


def outbox_sink(data_dir: Path) -> EventSink:
    """Events go to the durable outbox under the data dir; the relay takes them to Kafka."""

    def sink(events: list[dict[str, Any]]) -> None:
        if events:
            emit(data_dir, events)

    return sink
