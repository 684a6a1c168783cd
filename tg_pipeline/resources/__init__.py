"""Resources the Dagster layer hands to assets, checks, ops and sensors."""

from __future__ import annotations

from tg_pipeline.resources.settings import PipelineSettings, settings_from_env

__all__ = ["PipelineSettings", "settings_from_env"]
