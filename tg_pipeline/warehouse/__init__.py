"""The warehouse: schema, the one upsert, counts, backups and queries, in DuckDB (the
embedded default) or PostgreSQL (:mod:`.pg`), behind one interface (:mod:`.backend`).

It imports ``records``, ``errors`` and ``readers`` (to read backups back), and the ADBC
PostgreSQL driver in :mod:`.pg`; never Dagster or events.
"""

from __future__ import annotations

from tg_pipeline.warehouse.backup import BackupFile
from tg_pipeline.warehouse.backup_check import BackupCheck
from tg_pipeline.warehouse.columns import is_surrogate_chat_id, surrogate_chat_id
from tg_pipeline.warehouse.connection import Warehouse
from tg_pipeline.warehouse.migrations import LATEST_VERSION
from tg_pipeline.warehouse.models import (
    CountSnapshot,
    Deletion,
    DumpRecord,
    IngestResult,
    PendingCount,
)
from tg_pipeline.warehouse.queries import MessageFilter

__all__ = [
    "LATEST_VERSION",
    "BackupCheck",
    "BackupFile",
    "CountSnapshot",
    "Deletion",
    "DumpRecord",
    "IngestResult",
    "MessageFilter",
    "PendingCount",
    "Warehouse",
    "is_surrogate_chat_id",
    "surrogate_chat_id",
]
