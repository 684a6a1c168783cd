"""The resources every run gets: settings, the Kafka broker and the warehouse guard."""

from __future__ import annotations

from typing import Any

from tg_pipeline.config import Settings
from tg_pipeline.defs.shared.guard import GUARD_KEY, warehouse_guard
from tg_pipeline.defs.shared.kafka import kafka_resource
from tg_pipeline.defs.shared.settings import pipeline_settings


def build_resources(settings: Settings) -> dict[str, Any]:
    """Resources from the settings, with defaults that work on a bare machine."""
    return {
        "settings": pipeline_settings(settings),
        "kafka": kafka_resource(settings),
        GUARD_KEY: warehouse_guard,
    }
