"""Software-defined assets, one subpackage per domain group."""

from __future__ import annotations

from tg_pipeline.assets.telegram import ASSETS as TELEGRAM_ASSETS
from tg_pipeline.assets.telegram import CHECKS as TELEGRAM_CHECKS

__all__ = ["TELEGRAM_ASSETS", "TELEGRAM_CHECKS"]
