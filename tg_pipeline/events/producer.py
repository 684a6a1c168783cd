"""One idempotent producer session whose delivery reports decide what counts as sent.

librdkafka's idempotent producer keeps a producer id and per-partition sequence numbers.
When messages time out while the network is cut, the session is left in a state where it
does not re-deliver them once the network is back (seen with confluent-kafka 2.16). So a
session that has reported any failure is *spent*: the relay abandons it and starts a new one
for the next attempt, and the outbox, not the producer's queue, is what retries.
"""

from __future__ import annotations

import time
from functools import partial

from confluent_kafka import KafkaError, Message, Producer

from tg_pipeline.events.settings import KafkaSettings
from tg_pipeline.events.topics import kafka_log


class QueueFull(Exception):
    """The local producer queue stayed full until the caller's deadline."""


class EventProducer:
    """Sends values tagged with an integer token and sorts the tokens by delivery report."""

    def __init__(self, settings: KafkaSettings) -> None:
        self._producer = Producer(
            {**settings.producer_config(), "log.connection.close": False}, logger=kafka_log
        )
        self.delivered: list[int] = []
        self.failed: list[tuple[int, str]] = []
        self.in_flight = 0
        self.spent = False
        self._sent = 0

    def send(
        self, topic: str, key: str | None, value: bytes, token: int, *, deadline: float
    ) -> None:
        """Queue one message; raises :class:`QueueFull` if no room frees up before
        ``deadline`` (a ``time.monotonic()`` value)."""
        callback = partial(self._on_delivery, token)
        while True:
            try:
                self._producer.produce(topic, value=value, key=key, on_delivery=callback)
                break
            except BufferError:
                if time.monotonic() >= deadline:
                    raise QueueFull from None
                self._producer.poll(0.05)
        self.in_flight += 1
        self._sent += 1
        if self._sent % 1000 == 0:
            self._producer.poll(0)

    def _on_delivery(self, token: int, err: KafkaError | None, msg: Message) -> None:
        self.in_flight -= 1
        error = err or msg.error()
        if error is None:
            self.delivered.append(token)
        else:
            self.failed.append((token, f"{error.name()}: {error.str()}"))
            self.spent = True

    def poll(self, timeout_s: float = 0.0) -> None:
        self._producer.poll(timeout_s)

    def flush(self, timeout_s: float) -> int:
        """Wait for delivery reports; returns how many messages are still unreported."""
        return self._producer.flush(max(0.0, timeout_s))

    def drain(self) -> tuple[list[int], list[tuple[int, str]]]:
        """Reports received since the last drain: (delivered tokens, failed tokens + reason)."""
        delivered, failed = self.delivered, self.failed
        self.delivered, self.failed = [], []
        return delivered, failed

    def abandon(self) -> None:
        """Drop whatever is still queued or in flight; each gets a failure report.

        A purged message may still reach the broker; the outbox then sends it again and the
        consumer keeps one copy by event_id.
        """
        self.spent = True
        self._producer.purge(in_queue=True, in_flight=True, blocking=False)
        self._producer.flush(1.0)
