"""The Kafka broker as a Dagster resource; empty bootstrap servers means "no broker".

Dagster shows resource configuration in the UI and stores it with every run. Values given
as ``EnvVar`` are shown and stored as the variable's *name*, so :func:`kafka_resource` passes
the SASL password only that way, and the resource never puts it in a log line. Values and
defaults come from :mod:`tg_pipeline.config`.
"""

from collections.abc import Mapping
from typing import Any

import dagster as dg
from pydantic import Field

from tg_pipeline.config import KAFKA_ENV, KAFKA_INT_FIELDS, Settings
from tg_pipeline.events.settings import KafkaSettings

_DEFAULTS = KafkaSettings()


class KafkaResource(dg.ConfigurableResource):
    """Where count and audit events go: the broker, its security settings and the topics
    (the same fields as the events module's `KafkaSettings`)."""

    bootstrap_servers: str = Field(
        default="",
        description="host:port[,host:port]; empty = no broker, events wait in the outbox "
        "(env TG_KAFKA_BOOTSTRAP).",
    )
    security_protocol: str = Field(
        default=_DEFAULTS.security_protocol,
        description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (env TG_KAFKA_SECURITY_PROTOCOL).",
    )
    sasl_mechanism: str = Field(
        default="", description="PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (env TG_KAFKA_SASL_MECHANISM)."
    )
    sasl_username: str = Field(default="", description="env TG_KAFKA_SASL_USERNAME.")
    sasl_password: str = Field(
        default="",
        description="Only ever set through env TG_KAFKA_SASL_PASSWORD, so the UI shows the "
        "variable's name, not the secret.",
    )
    ssl_ca_location: str = Field(
        default="", description="CA bundle for TLS brokers (env TG_KAFKA_SSL_CA_LOCATION)."
    )
    client_id: str = Field(default=_DEFAULTS.client_id, description="env TG_KAFKA_CLIENT_ID.")
    topic_prefix: str = Field(
        default=_DEFAULTS.topic_prefix,
        description="Topics are <prefix>.user-counts and <prefix>.audit "
        "(env TG_KAFKA_TOPIC_PREFIX).",
    )
    partitions: int = Field(
        default=_DEFAULTS.partitions,
        description="Partitions of topics this pipeline creates (env TG_KAFKA_PARTITIONS).",
    )
    replication: int = Field(
        default=_DEFAULTS.replication,
        description="Replication factor of topics this pipeline creates "
        "(env TG_KAFKA_REPLICATION).",
    )
    delivery_timeout_ms: int = Field(
        default=_DEFAULTS.delivery_timeout_ms,
        description="How long one relay attempt waits for an ack before the event is retried "
        "later (env TG_KAFKA_DELIVERY_TIMEOUT_MS).",
    )
    session_timeout_ms: int = Field(
        default=_DEFAULTS.session_timeout_ms,
        description="Consumer group session timeout of the audit consumer "
        "(env TG_KAFKA_SESSION_TIMEOUT_MS).",
    )

    @property
    def enabled(self) -> bool:
        return bool(self.bootstrap_servers.strip())

    def settings(self) -> KafkaSettings:
        return KafkaSettings(
            bootstrap_servers=self.bootstrap_servers,
            security_protocol=self.security_protocol,
            sasl_mechanism=self.sasl_mechanism,
            sasl_username=self.sasl_username,
            sasl_password=self.sasl_password,
            ssl_ca_location=self.ssl_ca_location,
            client_id=self.client_id,
            topic_prefix=self.topic_prefix,
            partitions=self.partitions,
            replication=self.replication,
            delivery_timeout_ms=self.delivery_timeout_ms,
            session_timeout_ms=self.session_timeout_ms,
        )

    def __repr__(self) -> str:
        return f"KafkaResource({self.settings()!r})"

    __str__ = __repr__


def kafka_resource(settings: Settings) -> KafkaResource:
    """The resource for ``settings.kafka``: an ``EnvVar`` for each ``TG_KAFKA_*`` variable that
    was set, the default for the rest.

    Unset variables keep the defaults (an ``EnvVar`` that is not set would fail every run), so
    a bare machine runs without a broker.
    """
    values: dict[str, Any] = {}
    for field, var in KAFKA_ENV.items():
        if var in settings.given:
            values[field] = dg.EnvVar.int(var) if field in KAFKA_INT_FIELDS else dg.EnvVar(var)
    return KafkaResource(**values)


def kafka_resource_from_env(environ: Mapping[str, str] | None = None) -> KafkaResource:
    """:func:`kafka_resource` of the settings in ``environ`` (default: this process's)."""
    return kafka_resource(Settings.from_env(environ))
