"""Move events from the outbox to Kafka, marking each delivered only from its ack.

A pass sends pending events oldest first. Acknowledged rows are marked delivered batch by
batch, so a crash mid-pass re-sends at most the unmarked tail (consumers drop repeats by
event_id). When any delivery fails, the pass stops sending, collects the reports still due,
and drops its producer: the next pass starts a fresh producer session, which is what makes
events that timed out during a network cut go out once the network is back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from tg_pipeline.events.errors import BrokerUnavailable, TopicSetupError
from tg_pipeline.events.outbox import Outbox
from tg_pipeline.events.producer import EventProducer, QueueFull
from tg_pipeline.events.settings import KafkaSettings
from tg_pipeline.events.topics import ensure_topics

log = logging.getLogger(__name__)

#: How long a pass waits past its deadline for delivery reports already due.
FLUSH_GRACE_S = 5.0
#: Delivered rows are kept this long for inspection, then pruned.
KEEP_DELIVERED_S = 7 * 24 * 3600.0


@dataclass(frozen=True)
class RelayResult:
    delivered: int
    failed: int
    pending: int
    elapsed_s: float
    error: str | None = None
    skipped: str | None = None

    def summary(self) -> str:
        if self.skipped:
            return f"relay skipped: {self.skipped}; {self.pending} events pending"
        text = (
            f"delivered {self.delivered}, failed {self.failed}, {self.pending} pending"
            f" ({self.elapsed_s:.1f} s)"
        )
        return f"{text}; {self.error}" if self.error else text


class Relay:
    """Publishes an outbox's pending events; keep one per process and call it repeatedly."""

    def __init__(
        self,
        outbox: Outbox,
        settings: KafkaSettings,
        *,
        batch_size: int = 5000,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.outbox = outbox
        self.settings = settings
        self.batch_size = batch_size
        #: Called after each batch with (events handed to the producer, acknowledged) so far.
        self.progress = progress
        self.sessions_started = 0
        self._producer: EventProducer | None = None

    def publish_pending(
        self, *, max_events: int | None = None, timeout_s: float = 45.0
    ) -> RelayResult:
        """One pass over the pending events, bounded by ``timeout_s`` (a sensor tick has 60 s).

        Never raises for broker trouble: the result says what happened and the events stay
        pending.
        """
        started = time.monotonic()
        deadline = started + timeout_s
        if not self.settings.enabled:
            return RelayResult(0, 0, self.outbox.pending_count(), 0.0, skipped="no broker set")
        with self.outbox.relay_lock() as locked:
            if not locked:
                return RelayResult(
                    0,
                    0,
                    self.outbox.pending_count(),
                    0.0,
                    skipped="another relay holds the outbox",
                )
            try:
                ensure_topics(self.settings, timeout_s=max(1.0, min(10.0, timeout_s / 3)))
            except (BrokerUnavailable, TopicSetupError) as exc:
                self.outbox.record_failure([], str(exc))
                return RelayResult(
                    0, 0, self.outbox.pending_count(), time.monotonic() - started, error=str(exc)
                )
            delivered, failed, error = self._pass(deadline, max_events)
            if delivered and not failed:
                self.outbox.clear_error()
                self.outbox.prune_delivered(KEEP_DELIVERED_S)
            return RelayResult(
                delivered,
                failed,
                self.outbox.pending_count(),
                time.monotonic() - started,
                error=error,
            )

    def _session(self) -> EventProducer:
        if self._producer is None or self._producer.spent:
            self._producer = EventProducer(self.settings)
            self.sessions_started += 1
        return self._producer

    def _pass(self, deadline: float, max_events: int | None) -> tuple[int, int, str | None]:
        producer = self._session()
        tally = _Tally()
        sent = 0
        after_seq = 0
        out_of_time = False
        while max_events is None or sent < max_events:
            # At most one batch stays unacknowledged, so the outbox is marked as acks arrive
            # and a crash or a cut leaves little to re-send.
            while producer.in_flight > self.batch_size and not producer.spent:
                if time.monotonic() >= deadline:
                    break
                producer.poll(0.05)
            self._settle(producer, tally)
            if producer.spent:
                break
            if time.monotonic() >= deadline:
                out_of_time = True
                break
            limit = (
                self.batch_size if max_events is None else min(self.batch_size, max_events - sent)
            )
            rows = self.outbox.pending(limit=limit, after_seq=after_seq)
            if not rows:
                break
            try:
                for row in rows:
                    producer.send(
                        self.settings.topic_for(row.stream),
                        row.key,
                        row.value,
                        row.seq,
                        deadline=deadline,
                    )
                    after_seq = row.seq
                    sent += 1
            except QueueFull:
                out_of_time = True
                break
            if self.progress is not None:
                self._settle(producer, tally)
                self.progress(sent, tally.delivered)
        # Reports still due get a short grace beyond the deadline: purging messages that
        # are about to be acknowledged would only make them go out twice.
        if producer.flush(max(deadline - time.monotonic(), FLUSH_GRACE_S)):
            out_of_time = True
            producer.abandon()
        self._settle(producer, tally)
        if producer.spent:
            self._producer = None
        error = None
        if out_of_time:
            error = "pass ran out of time; the rest stays pending"
        elif tally.first_error:
            error = (
                f"{tally.failed} deliveries failed, first: {tally.first_error};"
                " retrying with a new producer"
            )
        if error:
            log.warning("outbox relay: %s", error)
        return tally.delivered, tally.failed, error

    def _settle(self, producer: EventProducer, tally: _Tally) -> None:
        """Write the delivery reports received so far into the outbox."""
        producer.poll(0)
        ok, bad = producer.drain()
        if ok:
            self.outbox.mark_delivered(ok)
            tally.delivered += len(ok)
        if bad:
            tally.failed += len(bad)
            tally.first_error = tally.first_error or bad[0][1]
            self.outbox.record_failure([token for token, _ in bad], bad[0][1])

    def close(self, timeout_s: float = 10.0) -> None:
        """Wait briefly for outstanding reports and record them, then drop the producer."""
        if self._producer is not None:
            self._producer.flush(timeout_s)
            if self._producer.in_flight:
                self._producer.abandon()
            self._settle(self._producer, _Tally())
            self._producer = None


@dataclass
class _Tally:
    delivered: int = 0
    failed: int = 0
    first_error: str | None = None
