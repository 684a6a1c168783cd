"""Broker settings as a plain value, so the core can publish and consume without Dagster.

The Dagster resource mirrors these fields; :mod:`tg_pipeline.config` builds them from the
environment. The SASL password is kept out of ``repr`` because settings objects end up in
log lines and exception messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

STREAMS = ("counts", "audit")


@dataclass(frozen=True)
class KafkaSettings:
    """Where the broker is and how to reach it. An empty ``bootstrap_servers`` means no broker:
    events then wait in the outbox and nothing fails."""

    bootstrap_servers: str = ""
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = ""
    sasl_username: str = ""
    sasl_password: str = field(default="", repr=False)
    ssl_ca_location: str = ""
    client_id: str = "tg_pipeline"
    topic_prefix: str = "tg"
    partitions: int = 3
    replication: int = 1
    delivery_timeout_ms: int = 30_000
    session_timeout_ms: int = 6_000

    @property
    def enabled(self) -> bool:
        return bool(self.bootstrap_servers.strip())

    @property
    def counts_topic(self) -> str:
        return f"{self.topic_prefix}.user-counts"

    @property
    def audit_topic(self) -> str:
        return f"{self.topic_prefix}.audit"

    def topic_for(self, stream: str) -> str:
        if stream == "counts":
            return self.counts_topic
        if stream == "audit":
            return self.audit_topic
        raise ValueError(f"unknown event stream {stream!r}; expected one of {STREAMS}")

    def client_config(self) -> dict[str, Any]:
        """librdkafka settings shared by producer, consumer and admin client.

        The result holds the password in clear text: hand it to confluent-kafka, never to a
        logger.
        """
        conf: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "client.id": self.client_id,
            "security.protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            conf["sasl.mechanism"] = self.sasl_mechanism
        if self.sasl_username:
            conf["sasl.username"] = self.sasl_username
        if self.sasl_password:
            conf["sasl.password"] = self.sasl_password
        if self.ssl_ca_location:
            conf["ssl.ca.location"] = self.ssl_ca_location
        return conf

    def producer_config(self) -> dict[str, Any]:
        return {
            **self.client_config(),
            "enable.idempotence": True,
            "acks": "all",
            "delivery.timeout.ms": self.delivery_timeout_ms,
            "linger.ms": 5,
            "queue.buffering.max.messages": 200_000,
        }

    def consumer_config(self, group_id: str) -> dict[str, Any]:
        return {
            **self.client_config(),
            "group.id": group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": self.session_timeout_ms,
            "heartbeat.interval.ms": max(100, self.session_timeout_ms // 3),
            "isolation.level": "read_committed",
            "fetch.wait.max.ms": 100,
        }

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "sasl_password":
                value = "***" if value else ""
            shown.append(f"{f.name}={value!r}")
        return f"KafkaSettings({', '.join(shown)})"

    __str__ = __repr__


#: Seconds a run waits at its end for its events to be acknowledged.
DEFAULT_DRAIN_TIMEOUT_S = 20.0
_drain_timeout_s = DEFAULT_DRAIN_TIMEOUT_S


def use_drain_timeout(seconds: float) -> None:
    """How long this process's runs wait at their end unless a caller says otherwise."""
    global _drain_timeout_s
    _drain_timeout_s = max(0.0, seconds)


def drain_timeout_s() -> float:
    """What :func:`use_drain_timeout` last set (the default at first)."""
    return _drain_timeout_s
