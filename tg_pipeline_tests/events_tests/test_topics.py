"""Topic creation: configured partitions, compacted counts, clear errors."""

from __future__ import annotations

from dataclasses import replace

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import ConfigResource

from tg_pipeline.events import KafkaSettings
from tg_pipeline.events.errors import BrokerUnavailable
from tg_pipeline.events.topics import admin_client, ensure_topics, refusal_message
from tg_pipeline_tests.kafka_broker import free_port


def test_topics_are_created_once_with_the_configured_layout(
    kafka_settings: KafkaSettings,
) -> None:
    settings = replace(kafka_settings, partitions=4)
    assert sorted(ensure_topics(settings)) == sorted([settings.counts_topic, settings.audit_topic])
    assert ensure_topics(settings) == []
    admin = admin_client(settings)
    metadata = admin.list_topics(timeout=10)
    assert len(metadata.topics[settings.counts_topic].partitions) == 4
    assert len(metadata.topics[settings.audit_topic].partitions) == 4
    resource = ConfigResource(ConfigResource.Type.TOPIC, settings.counts_topic)
    configs = admin.describe_configs([resource])[resource].result(timeout=10)
    assert configs["cleanup.policy"].value == "compact"


def test_unreachable_broker_is_a_clear_error() -> None:
    settings = KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}")
    with pytest.raises(BrokerUnavailable, match=r"did not answer within 1 s.*outbox"):
        ensure_topics(settings, timeout_s=1)


def test_refusal_names_topic_layout_and_remedy() -> None:
    settings = KafkaSettings(bootstrap_servers="kafka:9092", partitions=6, replication=3)
    refused = KafkaException(
        KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "Topic authorization failed")
    )
    text = refusal_message(settings, settings.counts_topic, refused)
    assert "kafka:9092 refused to create topic 'tg.user-counts'" in text
    assert "6 partitions, replication 3" in text
    assert "'cleanup.policy': 'compact'" in text
    assert "TOPIC_AUTHORIZATION_FAILED" in text
    assert "Create the topic yourself" in text
