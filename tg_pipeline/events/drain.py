"""Drain the outbox before a run ends: one bounded relay pass that waits its turn.

A run calls this after writing its last events, so they reach Kafka with the run whatever
started it. Another relay (the daemon's sensor, a second run) may hold the outbox; then
this waits for the lock, within the same bound, since the other pass may have started
before this run's events were written. A broker that does not answer never fails the run:
the result says how many events wait, and the relay sensor or the next run sends them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from tg_pipeline.events.outbox import Outbox
from tg_pipeline.events.relay import Relay
from tg_pipeline.events.settings import KafkaSettings, drain_timeout_s

_LOCK_RETRY_S = 0.2


@dataclass(frozen=True)
class DrainResult:
    delivered: int
    waiting: int
    error: str | None
    configured: bool

    def summary(self) -> str:
        if not self.configured:
            return f"{self.waiting} events wait in the outbox (no Kafka broker configured)"
        if not self.waiting:
            return f"{self.delivered} events published to Kafka; none wait"
        text = f"{self.waiting} events wait for Kafka"
        return f"{text} ({self.error})" if self.error else text


def drain_outbox(
    data_dir: Path | str, settings: KafkaSettings, *, timeout_s: float | None = None
) -> DrainResult:
    """Publish what the outbox holds, waiting at most ``timeout_s`` (default: the process's,
    see :func:`~.settings.use_drain_timeout`)."""
    outbox = Outbox.in_data_dir(data_dir)
    if not settings.enabled:
        return DrainResult(0, outbox.pending_count(), None, configured=False)
    budget = drain_timeout_s() if timeout_s is None else timeout_s
    deadline = time.monotonic() + budget
    relay = Relay(outbox, settings)
    delivered = 0
    error: str | None = None
    try:
        while True:
            left = deadline - time.monotonic()
            result = relay.publish_pending(timeout_s=max(1.0, left))
            delivered += result.delivered
            error = result.error
            if result.skipped and time.monotonic() + _LOCK_RETRY_S < deadline:
                # Another relay holds the outbox: our events may be behind its pass.
                time.sleep(_LOCK_RETRY_S)
                continue
            if result.skipped:
                error = result.skipped
            if result.pending and not result.error and time.monotonic() < deadline:
                continue  # events added while the pass ran
            break
    finally:
        relay.close(timeout_s=1.0)
    return DrainResult(delivered, outbox.pending_count(), error, configured=True)
