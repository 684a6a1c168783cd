"""The one warehouse interface and the choice between its two implementations.

:class:`WarehouseApi` is what callers use; :class:`~.connection.Warehouse` (DuckDB, the
embedded default) and :class:`~.pg.PgWarehouse` (PostgreSQL, a shared service) both
provide it. :class:`WarehouseTarget` names one warehouse, as the settings give it, and
opens it on its backend. Choosing one imports neither backend's driver.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

if TYPE_CHECKING:
    import pyarrow as pa

    from tg_pipeline.warehouse.backup import BackupFile
    from tg_pipeline.warehouse.backup_check import BackupCheck
    from tg_pipeline.warehouse.connection import Warehouse
    from tg_pipeline.warehouse.models import (
        CountSnapshot,
        Deletion,
        DumpRecord,
        IngestResult,
        PendingCount,
    )
    from tg_pipeline.warehouse.pg import PgWarehouse
    from tg_pipeline.warehouse.query_sql import MessageFilter

    #: Either backend's class, for callers that reach past :class:`WarehouseApi`.
    AnyWarehouse: TypeAlias = Warehouse | PgWarehouse


class WarehouseApi(Protocol):
    """What both backends offer: the upsert, counts, deletes, backups and queries."""

    def ingest(
        self,
        batches: Iterable[pa.RecordBatch],
        *,
        dump: DumpRecord,
        chat_id: int | None = None,
        prefetch: bool = True,
        recognise_unchanged: bool = True,
    ) -> IngestResult: ...
    def record_dump_failure(self, dump: DumpRecord, error: str) -> None: ...
    def counts_stale(self) -> bool: ...
    def refresh_counts(self) -> list[CountSnapshot]: ...
    def pending_count_events(self) -> list[PendingCount]: ...
    def delete_messages(self, f: MessageFilter) -> Deletion: ...
    def delete_all(self) -> Deletion: ...
    def backup(
        self, dest_dir: Path, *, fmt: str, row_group_size: int = ..., keep_last: int = ...
    ) -> BackupFile: ...
    def row_counts(self) -> dict[str, int]: ...
    def duplicate_keys(self) -> int: ...
    def counts_mismatch(self) -> int: ...
    def messages(
        self, f: MessageFilter, *, limit: int | None, offset: int = 0, desc: bool = False
    ) -> pa.Table: ...
    def count_messages(self, f: MessageFilter) -> int: ...
    def counts(self, chat: str | None = None) -> pa.Table: ...
    def chats(self) -> pa.Table: ...
    def count_rows(self, what: str, chat: str | None = None) -> int: ...
    def dumps(self) -> pa.Table: ...
    def count_events_queued(self, up_to_version: int) -> int: ...
    def store_audit_events(self, events: Iterable[dict[str, Any]]) -> int: ...
    def verify_backup(self, backup: Path) -> BackupCheck: ...
    def table_schema(self, table: str) -> dict[str, str]: ...
    def preview(self, n: int = 5) -> list[dict[str, Any]]: ...
    def missing_reply_targets(self) -> int: ...
    def messages_reader(
        self, f: MessageFilter, *, limit: int | None, offset: int = 0, desc: bool = False
    ) -> pa.RecordBatchReader: ...
    def counts_reader(
        self,
        chat: str | None = None,
        *,
        overall: bool = False,
        limit: int | None = None,
        offset: int = 0,
    ) -> pa.RecordBatchReader: ...
    def chats_reader(
        self, *, limit: int | None = None, offset: int = 0
    ) -> pa.RecordBatchReader: ...


def redacted(url: str) -> str:
    """``url`` without its password, for messages and metadata."""
    return re.sub(r"//([^:/@]+):[^@/]*@", r"//\1:***@", url)


@dataclass(frozen=True)
class WarehouseTarget:
    """A warehouse: a PostgreSQL database when ``url`` is given, else the DuckDB file."""

    path: Path
    url: str | None = None

    @property
    def on_postgres(self) -> bool:
        return self.url is not None

    @property
    def writers_take_turns(self) -> bool:
        """DuckDB lets one process write at a time (runs queue in the ``warehouse``
        pool); PostgreSQL writers run side by side."""
        return self.url is None

    def open(
        self, *, read_only: bool = False, wait_s: float = 10.0, owner: str | None = None
    ) -> AbstractContextManager[WarehouseApi]:
        return _open(self, read_only=read_only, wait_s=wait_s, owner=owner)


@contextmanager
def _open(
    target: WarehouseTarget, *, read_only: bool, wait_s: float, owner: str | None
) -> Iterator[WarehouseApi]:
    if target.url is not None:
        from tg_pipeline.warehouse.pg import PgWarehouse

        with PgWarehouse.open(target.url, read_only=read_only) as pg:
            yield pg
        return
    from tg_pipeline.warehouse.connection import Warehouse

    with Warehouse.open(target.path, read_only=read_only, wait_s=wait_s, owner=owner) as duck:
        yield duck
