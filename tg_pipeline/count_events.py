"""Count events from warehouse state: what changed and is not in the outbox yet goes there.

The warehouse records each count change in ``count_events_pending`` in the transaction that
makes it. Every writer that holds the warehouse calls :func:`queue_count_events`, which
writes the events of *all* pending changes to the outbox and only then forgets them. So a
run that fails or dies between its counts commit and the outbox write (a full disk, a
kill) loses nothing: the next writer, of any dump, sends what it left.
"""

from __future__ import annotations

import os
import signal
import sqlite3
from pathlib import Path

from tg_pipeline.errors import TgPipelineError
from tg_pipeline.events import Outbox, make_count_event
from tg_pipeline.warehouse.backend import WarehouseApi

_kill_before_count_events = False


def kill_before_count_events(on: bool) -> None:
    """Test hook: the process kills itself (SIGKILL) after the counts commit, before the
    outbox write, which makes that window deterministic for the recovery test."""
    global _kill_before_count_events
    _kill_before_count_events = on


class CountEventsNotQueued(TgPipelineError):
    """The outbox refused the count events; the changes stay pending in the warehouse."""


def queue_count_events(
    warehouse: WarehouseApi,
    data_dir: Path,
    *,
    run_id: str | None,
    job: str | None,
    dump: str | None,
) -> int:
    """Write the events of every pending count change to the outbox; returns how many."""
    pending = warehouse.pending_count_events()
    if not pending:
        return 0
    if _kill_before_count_events:
        os.kill(os.getpid(), signal.SIGKILL)
    events = [
        make_count_event(
            p, run_id=run_id, job=job, dump=dump, occurred_at=p.changed_at, version=p.version
        )
        for p in pending
    ]
    outbox = Outbox.in_data_dir(data_dir)
    try:
        outbox.add(events)
    except (sqlite3.Error, OSError, TgPipelineError) as exc:
        # The outbox wraps SQLite's error with its own path; the path is named below.
        cause = exc.__cause__ if isinstance(exc, TgPipelineError) and exc.__cause__ else exc
        reason = " ".join(str(cause).split()) or type(cause).__name__
        raise CountEventsNotQueued(
            f"{len(events)} count events could not be written to the outbox {outbox.path}:"
            f" {reason}; they stay pending in the warehouse and go out with the next run"
        ) from exc
    warehouse.count_events_queued(max(p.version for p in pending))
    return len(events)
