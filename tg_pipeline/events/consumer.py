"""Read the audit topic into the warehouse's ``audit_log`` table, at least once, stored once.

Each batch is stored in one warehouse transaction and only then are its offsets committed,
so a crash between the two re-reads the batch and the table's dedupe by ``event_id`` keeps
one copy. A message that is not a valid audit event is counted and skipped (its offset is
committed too), so one bad producer cannot stall the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from tg_pipeline.events.errors import BrokerUnavailable, ConsumeError
from tg_pipeline.events.model import InvalidEvent, decode_event, stream_of
from tg_pipeline.events.settings import KafkaSettings
from tg_pipeline.events.topics import ensure_topics, kafka_log

log = logging.getLogger(__name__)

AUDIT_GROUP_ID = "tg_pipeline.audit_log"

#: Commit failures that only mean the group rebalanced: the rows are stored and whoever owns
#: the partition now re-reads them, which the event_id dedupe absorbs.
_REBALANCE_CODES = frozenset(
    {
        KafkaError.REBALANCE_IN_PROGRESS,
        KafkaError.ILLEGAL_GENERATION,
        KafkaError.UNKNOWN_MEMBER_ID,
        KafkaError._NO_OFFSET,
    }
)


class AuditSink(Protocol):
    """Where audit events are stored; ``tg_pipeline.warehouse.Warehouse`` is one."""

    def store_audit_events(self, events: Iterable[dict[str, Any]]) -> int: ...


@dataclass(frozen=True)
class ConsumeResult:
    consumed: int
    new_rows: int
    invalid: int
    lag: int
    elapsed_s: float
    invalid_samples: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"read {self.consumed} audit messages, {self.new_rows} new rows, "
            f"{self.invalid} invalid, lag {self.lag} ({self.elapsed_s:.1f} s)"
        )


def consume_audit(
    settings: KafkaSettings, warehouse: AuditSink, group_id: str = AUDIT_GROUP_ID, **kwargs: Any
) -> int:
    """Consume everything the group has not yet committed; returns how many rows were new."""
    return consume_audit_log(settings, warehouse, group_id, **kwargs).new_rows


def consume_audit_log(
    settings: KafkaSettings,
    sink: AuditSink,
    group_id: str = AUDIT_GROUP_ID,
    *,
    batch_size: int = 1000,
    idle_s: float = 1.0,
    max_s: float = 120.0,
    join_timeout_s: float | None = None,
) -> ConsumeResult:
    """Consume until caught up (or ``idle_s`` without a message, or ``max_s``)."""
    if not settings.enabled:
        raise BrokerUnavailable("no Kafka broker configured (TG_KAFKA_BOOTSTRAP is empty)")
    started = time.monotonic()
    ensure_topics(settings)
    topic = settings.audit_topic
    consumer = Consumer(settings.consumer_config(group_id), logger=kafka_log)
    assignment: list[TopicPartition] = []
    committed: dict[int, int] = {}
    last_message = time.monotonic()

    def on_assign(_consumer: Consumer, partitions: list[TopicPartition]) -> None:
        nonlocal last_message
        assignment[:] = partitions
        committed.clear()
        last_message = time.monotonic()

    def on_revoke(_consumer: Consumer, _partitions: list[TopicPartition]) -> None:
        assignment.clear()

    join_timeout = join_timeout_s or settings.session_timeout_ms / 1000 * 2 + 15
    consumed = new_rows = invalid = 0
    samples: list[str] = []
    try:
        consumer.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
        while time.monotonic() - started < max_s:
            messages = consumer.consume(batch_size, timeout=0.2)
            if not messages:
                if not assignment:
                    if time.monotonic() - started > join_timeout:
                        raise ConsumeError(
                            f"consumer group {group_id!r} got no partitions of {topic!r}"
                            f" within {join_timeout:.0f} s"
                        )
                    continue
                if not committed:
                    committed.update(
                        (tp.partition, tp.offset)
                        for tp in consumer.committed(list(assignment), timeout=10)
                    )
                if _caught_up(consumer, assignment, committed):
                    break
                if time.monotonic() - last_message > idle_s:
                    break
                continue
            last_message = time.monotonic()
            events: list[dict[str, Any]] = []
            offsets: dict[tuple[str, int], int] = {}
            for msg in messages:
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise ConsumeError(f"reading {topic!r}: {error.name()}: {error.str()}")
                where, partition, offset = msg.topic(), msg.partition(), msg.offset()
                # Only error events lack these; a delivered message always has all three.
                assert where is not None and partition is not None and offset is not None
                offsets[(where, partition)] = offset + 1
                try:
                    event = decode_event(msg.value())
                    if stream_of(event) != "audit":
                        raise InvalidEvent(f"{event.get('event_type')!r} is not an audit event")
                except InvalidEvent as exc:
                    invalid += 1
                    if len(samples) < 5:
                        samples.append(f"{msg.partition()}@{msg.offset()}: {exc}")
                    continue
                events.append(event)
            if events:
                new_rows += sink.store_audit_events(events)
            _commit(consumer, offsets)
            consumed += len(messages)
        lag = _lag_from_positions(consumer, assignment)
    except KafkaException as exc:
        raise ConsumeError(f"consuming {topic!r}: {exc}") from None
    finally:
        consumer.close()
    if invalid:
        log.warning("skipped %d invalid audit messages, e.g. %s", invalid, samples[0])
    return ConsumeResult(consumed, new_rows, invalid, lag, time.monotonic() - started, samples)


def audit_lag(
    settings: KafkaSettings, group_id: str = AUDIT_GROUP_ID, *, timeout_s: float = 10.0
) -> int:
    """Messages on the audit topic the group has not committed yet (0 when the topic is missing).

    Does not join the group, so it is cheap enough for a sensor tick. Some brokers report the
    high watermark coarsely; the answer is then low but still above zero whenever anything is
    unread, which is all a trigger needs.
    """
    if not settings.enabled:
        return 0
    consumer = Consumer(settings.consumer_config(group_id), logger=kafka_log)
    try:
        topic = settings.audit_topic
        try:
            metadata = consumer.list_topics(topic, timeout=timeout_s)
        except KafkaException as exc:
            raise BrokerUnavailable(
                f"Kafka broker at {settings.bootstrap_servers} did not answer: {exc}"
            ) from None
        info = metadata.topics.get(topic)
        if info is None or info.error is not None or not info.partitions:
            return 0
        partitions = [TopicPartition(topic, p) for p in sorted(info.partitions)]
        committed = consumer.committed(partitions, timeout=timeout_s)
        lag = 0
        for tp in committed:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, tp.partition), timeout=timeout_s
            )
            start = tp.offset if tp.offset >= 0 else low
            lag += max(0, high - start)
        return lag
    finally:
        consumer.close()


def _commit(consumer: Consumer, offsets: dict[tuple[str, int], int]) -> None:
    if not offsets:
        return
    try:
        consumer.commit(
            offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
            asynchronous=False,
        )
    except KafkaException as exc:
        error = exc.args[0] if exc.args else None
        if isinstance(error, KafkaError) and error.code() in _REBALANCE_CODES:
            log.info("offset commit skipped after a rebalance: %s", error.str())
            return
        raise


def _caught_up(
    consumer: Consumer, assignment: list[TopicPartition], committed: dict[int, int]
) -> bool:
    """Every assigned partition read up to the high watermark of its latest fetch response.

    Only fetch responses are trusted for the end: they arrive for every assigned partition
    within ``fetch.wait.max.ms`` even when it is empty, while a separate ListOffsets query
    waits behind the pending fetch and, on some brokers, reports a lower high watermark.
    """
    for tp in consumer.position(list(assignment)):
        _low, high = consumer.get_watermark_offsets(tp, cached=True)
        if high < 0:
            return False
        position = tp.offset if tp.offset >= 0 else committed.get(tp.partition, -1)
        if high > 0 and position < high:
            return False
    return True


def _lag_from_positions(consumer: Consumer, assignment: list[TopicPartition]) -> int:
    if not assignment:
        return 0
    lag = 0
    for tp in consumer.position(list(assignment)):
        _low, high = consumer.get_watermark_offsets(tp, cached=True)
        if high >= 0 and tp.offset >= 0:
            lag += max(0, high - tp.offset)
    return lag
