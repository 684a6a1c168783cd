"""Create the two event topics when they are missing, with the configured layout.

The counts topic is compacted: its key is ``chat_id:sender_key`` and a count event is a
snapshot, so Kafka may keep only the latest event per sender and still hold every current
count. Topic creation failures become :class:`TopicSetupError` naming the topic, the broker
and what to do, because a refused creation otherwise surfaces as a consumer stuck on
UNKNOWN_TOPIC_OR_PART much later.
"""

from __future__ import annotations

import logging

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from tg_pipeline.events.errors import BrokerUnavailable, TopicSetupError
from tg_pipeline.events.settings import KafkaSettings

log = logging.getLogger(__name__)
#: librdkafka's own log lines go through Python logging instead of stderr.
kafka_log = logging.getLogger("tg_pipeline.events.kafka")


def admin_client(settings: KafkaSettings) -> AdminClient:
    return AdminClient(
        {**settings.client_config(), "log.connection.close": False}, logger=kafka_log
    )


def topic_configs(settings: KafkaSettings) -> dict[str, dict[str, str]]:
    return {
        settings.counts_topic: {"cleanup.policy": "compact"},
        settings.audit_topic: {"cleanup.policy": "delete"},
    }


def existing_topics(admin: AdminClient, settings: KafkaSettings, timeout_s: float) -> set[str]:
    """Topic names on the broker; raises :class:`BrokerUnavailable` when it does not answer."""
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise BrokerUnavailable(
            f"Kafka broker at {settings.bootstrap_servers} did not answer within {timeout_s:g} s"
            f" ({_describe(exc)}); events stay in the outbox until it is reachable"
        ) from None
    return set(metadata.topics)


def ensure_topics(settings: KafkaSettings, *, timeout_s: float = 10.0) -> list[str]:
    """Create missing event topics; returns the names created (empty when all existed)."""
    admin = admin_client(settings)
    present = existing_topics(admin, settings, timeout_s)
    missing = [
        NewTopic(
            name,
            num_partitions=settings.partitions,
            replication_factor=settings.replication,
            config=config,
        )
        for name, config in topic_configs(settings).items()
        if name not in present
    ]
    if not missing:
        return []
    created: list[str] = []
    futures = admin.create_topics(missing, request_timeout=timeout_s)
    for name, future in futures.items():
        try:
            future.result()
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            raise TopicSetupError(refusal_message(settings, name, exc)) from None
        created.append(name)
        log.info("created Kafka topic %s (%d partitions)", name, settings.partitions)
    return created


def refusal_message(settings: KafkaSettings, topic: str, exc: BaseException) -> str:
    return (
        f"Kafka broker at {settings.bootstrap_servers} refused to create topic {topic!r}"
        f" ({settings.partitions} partitions, replication {settings.replication},"
        f" {topic_configs(settings).get(topic, {})}): {_describe(exc)}. Create the topic"
        " yourself with these settings, or allow this client to create topics"
        " (CREATE permission / auto-creation)."
    )


def _describe(exc: BaseException) -> str:
    error = exc.args[0] if exc.args else None
    if isinstance(error, KafkaError):
        return f"{error.name()}: {error.str()}"
    return str(exc)
