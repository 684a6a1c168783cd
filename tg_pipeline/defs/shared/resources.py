"""The resources every run gets: settings, the Kafka broker and the warehouse guard."""

from __future__ import annotations

from typing import Any

from tg_pipeline.defs.shared.guard import GUARD_KEY, warehouse_guard
from tg_pipeline.defs.shared.kafka import kafka_resource_from_env
from tg_pipeline.defs.shared.settings import settings_from_env


def build_resources() -> dict[str, Any]:
    """Resources from the environment, with defaults that work on a bare machine."""
    return {
        "settings": settings_from_env(),
        "kafka": kafka_resource_from_env(),
        GUARD_KEY: warehouse_guard,
    }
