"""Broker problems reported in words a user can act on, never as a librdkafka trace."""

from __future__ import annotations

from tg_pipeline.errors import TgPipelineError


class BrokerUnavailable(TgPipelineError):
    """The configured Kafka broker did not answer; events stay in the outbox."""


class TopicSetupError(TgPipelineError):
    """The broker refused to create or describe a topic the pipeline needs."""


class ConsumeError(TgPipelineError):
    """Reading the audit topic failed; offsets were not committed past the failure."""
