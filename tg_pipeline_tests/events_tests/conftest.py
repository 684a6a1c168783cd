"""Broker and storage fixtures for the events tests."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tg_pipeline.events import KafkaSettings, Outbox
from tg_pipeline.warehouse import Warehouse
from tg_pipeline_tests.kafka_broker import BOOTSTRAP_ENV, kafka_bootstrap


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address of a real broker: ``TG_KAFKA_BOOTSTRAP`` or a Tansu started here."""
    log = tmp_path_factory.mktemp("tansu") / "tansu.log"
    with kafka_bootstrap(log=log) as bootstrap:
        yield bootstrap


@pytest.fixture
def kafka_settings(kafka_broker: str) -> KafkaSettings:
    """Settings with topics of their own, so tests sharing the broker never see each other."""
    return KafkaSettings(
        bootstrap_servers=kafka_broker,
        topic_prefix=f"test-{uuid.uuid4().hex[:12]}",
        partitions=3,
        delivery_timeout_ms=10_000,
        # Tansu answers a group join after half the session timeout; real Kafka brokers
        # refuse anything below their group.min.session.timeout.ms (6 s by default).
        session_timeout_ms=6_000 if os.environ.get(BOOTSTRAP_ENV) else 2_000,
    )


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    return Outbox.in_data_dir(tmp_path / "data")


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[Warehouse]:
    with Warehouse.open(tmp_path / "data" / "warehouse.duckdb") as wh:
        yield wh


@pytest.fixture
def audit_store(warehouse: Warehouse) -> Warehouse:
    """Where the audit consumer writes: the warehouse's own ``audit_log`` table."""
    return warehouse
