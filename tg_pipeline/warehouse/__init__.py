"""The warehouse: schema, the one upsert, counts, backups and queries, in DuckDB (the
embedded default) or PostgreSQL (:mod:`.pg`), behind one interface (:mod:`.backend`).

It imports ``records``, ``errors`` and ``readers`` (to read backups back), and the ADBC
PostgreSQL driver in :mod:`.pg`; never Dagster or events.

The names below are loaded on first use, so a light submodule (the limits, the backend
choice, the PostgreSQL reads) can be imported without DuckDB.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from tg_pipeline.warehouse.query_sql import MessageFilter

#: Each exported name and the submodule that defines it.
_EXPORTS = {
    "LATEST_VERSION": "migrations",
    "BackupCheck": "backup_check",
    "BackupFile": "backup",
    "CountSnapshot": "models",
    "Deletion": "models",
    "DumpRecord": "models",
    "IngestResult": "models",
    "MessageFilter": "query_sql",
    "PendingCount": "models",
    "Warehouse": "connection",
    "is_surrogate_chat_id": "columns",
    "surrogate_chat_id": "columns",
}

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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
