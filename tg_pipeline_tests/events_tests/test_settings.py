"""Broker settings: topic names, client configuration, and no secret in any text form."""

from __future__ import annotations

from tg_pipeline.config import Settings
from tg_pipeline.events import KafkaSettings


def test_topics_follow_the_prefix() -> None:
    assert KafkaSettings().counts_topic == "tg.user-counts"
    assert KafkaSettings().audit_topic == "tg.audit"
    assert KafkaSettings(topic_prefix="prod").topic_for("audit") == "prod.audit"
    assert not KafkaSettings().enabled
    assert not KafkaSettings(bootstrap_servers="  ").enabled


def test_password_never_shows_in_repr_or_str() -> None:
    settings = KafkaSettings(
        bootstrap_servers="kafka:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="pipeline",
        sasl_password="hunter2-secret",
    )
    for text in (repr(settings), str(settings), f"{settings}", repr([settings])):
        assert "hunter2" not in text
        assert "***" in text
        assert "pipeline" in text
    conf = settings.producer_config()
    assert conf["sasl.password"] == "hunter2-secret"
    assert conf["enable.idempotence"] is True
    assert conf["acks"] == "all"


def test_from_env_reads_the_documented_variables() -> None:
    settings = Settings.from_env(
        {
            "TG_KAFKA_BOOTSTRAP": "b1:9092,b2:9092",
            "TG_KAFKA_TOPIC_PREFIX": "staging",
            "TG_KAFKA_PARTITIONS": "6",
            "TG_KAFKA_SASL_PASSWORD": "pw",
            "TG_KAFKA_SSL_CA_LOCATION": "",
        }
    ).kafka
    assert settings.bootstrap_servers == "b1:9092,b2:9092"
    assert settings.partitions == 6
    assert settings.counts_topic == "staging.user-counts"
    assert settings.sasl_password == "pw"
    assert settings.ssl_ca_location == ""
    assert Settings.from_env({}).kafka == KafkaSettings()
