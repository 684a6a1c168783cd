"""The telegram group: dumps in, messages and counts out, backups beside them."""

from __future__ import annotations

from tg_pipeline.assets.telegram.backups import messages_backup_csv, messages_backup_parquet
from tg_pipeline.assets.telegram.checks import CHECKS
from tg_pipeline.assets.telegram.counts import user_message_counts
from tg_pipeline.assets.telegram.messages import messages
from tg_pipeline.assets.telegram.raw_dump import raw_dump
from tg_pipeline.assets.telegram.report import chat_report

ASSETS = [
    raw_dump,
    messages,
    user_message_counts,
    chat_report,
    messages_backup_parquet,
    messages_backup_csv,
]

__all__ = [
    "ASSETS",
    "CHECKS",
    "chat_report",
    "messages",
    "messages_backup_csv",
    "messages_backup_parquet",
    "raw_dump",
    "user_message_counts",
]
