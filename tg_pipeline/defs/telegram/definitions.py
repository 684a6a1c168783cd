"""The telegram domain's definitions, without resources (``tg_pipeline.definitions`` adds
them once for every domain)."""

from __future__ import annotations

import dagster as dg

from tg_pipeline.defs.telegram.assets.backups import (
    messages_backup_csv,
    messages_backup_parquet,
)
from tg_pipeline.defs.telegram.assets.counts import user_message_counts
from tg_pipeline.defs.telegram.assets.messages import messages
from tg_pipeline.defs.telegram.assets.quarantine import quarantine
from tg_pipeline.defs.telegram.assets.raw_dump import raw_dump
from tg_pipeline.defs.telegram.assets.report import chat_report
from tg_pipeline.defs.telegram.checks import CHECKS
from tg_pipeline.defs.telegram.jobs import JOBS
from tg_pipeline.defs.telegram.sensors import inbox_sensor

ASSETS: list[dg.AssetsDefinition | dg.AssetSpec] = [
    raw_dump,
    messages,
    user_message_counts,
    chat_report,
    messages_backup_parquet,
    messages_backup_csv,
    quarantine,
]

defs = dg.Definitions(assets=ASSETS, asset_checks=CHECKS, jobs=JOBS, sensors=[inbox_sensor])
