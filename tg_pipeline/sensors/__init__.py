"""Sensors: what starts runs without a person pressing a button."""

from __future__ import annotations

from tg_pipeline.sensors.inbox import inbox_sensor

SENSORS = [inbox_sensor]

__all__ = ["SENSORS", "inbox_sensor"]
