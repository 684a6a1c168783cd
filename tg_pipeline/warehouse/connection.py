"""Opening the DuckDB warehouse: locking, waiting, limits, and the :class:`Warehouse` API.

DuckDB lets one process write a database file, and while it does, no other process can
open the file at all, not even read-only. So an open retries with a short backoff for
``wait_s`` seconds and then raises :class:`WarehouseBusy`, naming the holder. Writers take
turns through the lock beside the file (:mod:`.lock`), whose holder record names them. The
connection is always closed when the ``with`` block ends, exceptions included, so a failed
run never leaves the file locked.

DuckDB's memory is capped (:class:`~.limits.DuckDBLimits`, default 128MB; it spills beyond that,
indexes included) and insertion order is only kept where a query asks for an order. The
rest of a process's memory is Python and Arrow batches in flight, so memory stays flat
with the size of an ingest, backup or restore. The thread count defaults to the
cores, at most 4. An entry point sets the process's limits once with :func:`~.limits.use_limits`.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from tg_pipeline.errors import OutOfMemory, TgPipelineError, WarehouseBusy, out_of_memory_hint
from tg_pipeline.warehouse import counts as _counts
from tg_pipeline.warehouse import queries as _queries
from tg_pipeline.warehouse import upsert as _upsert
from tg_pipeline.warehouse.audit import store_audit_events
from tg_pipeline.warehouse.backup import BackupFile
from tg_pipeline.warehouse.backup_check import BackupCheck, verify_backup
from tg_pipeline.warehouse.backup_duckdb import write_backup
from tg_pipeline.warehouse.columns import TABLES
from tg_pipeline.warehouse.dialect import DUCKDB, SqlCon
from tg_pipeline.warehouse.ledger import record_dump_failure
from tg_pipeline.warehouse.limits import DEFAULT_MEMORY_LIMIT, current_limits
from tg_pipeline.warehouse.lock import hold_warehouse, read_holder
from tg_pipeline.warehouse.migrations import apply_migrations, check_readable
from tg_pipeline.warehouse.models import (
    CountSnapshot,
    Deletion,
    DumpRecord,
    IngestResult,
    PendingCount,
)
from tg_pipeline.warehouse.query_sql import MessageFilter


def _config(read_only: bool, memory_limit: str | None, threads: int | None) -> dict[str, Any]:
    limits = current_limits()
    return {
        "access_mode": "READ_ONLY" if read_only else "READ_WRITE",
        "memory_limit": memory_limit or limits.memory_limit or DEFAULT_MEMORY_LIMIT,
        "threads": threads or limits.threads or min(4, os.cpu_count() or 1),
        "preserve_insertion_order": False,
        # A bulk insert writes each row group out as soon as it is full instead of holding
        # five, which keeps memory low and the insert faster.
        "write_buffer_row_group_count": 1,
    }


def _is_lock_error(exc: duckdb.Error) -> bool:
    text = str(exc).lower()
    return "lock" in text and ("conflicting" in text or "could not set" in text)


def _holder(path: Path, exc: duckdb.Error) -> str:
    holder = read_holder(path)
    if holder is not None and holder.alive:
        return "held by " + holder.describe()
    marker = "(PID "
    text = str(exc)
    if marker in text:
        return "held by pid " + text.split(marker, 1)[1].split(")", 1)[0]
    return "held by another process"


def connect(
    path: Path,
    *,
    read_only: bool = False,
    wait_s: float = 10.0,
    memory_limit: str | None = None,
    threads: int | None = None,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection to ``path``, waiting up to ``wait_s`` for a lock holder."""
    path = Path(path)
    if read_only and not path.exists():
        raise TgPipelineError(
            f"no warehouse at {path}: nothing has been ingested yet (or a different "
            "--data-dir / TG_DATA_DIR was meant)"
        )
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    config = _config(read_only, memory_limit, threads)
    deadline = time.monotonic() + max(wait_s, 0.0)
    delay = 0.05
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only, config=config)
            break
        except duckdb.IOException as exc:
            if not _is_lock_error(exc):
                raise TgPipelineError(f"cannot open warehouse {path}: {exc}") from exc
            left = deadline - time.monotonic()
            if left <= 0:
                raise WarehouseBusy(
                    f"warehouse {path} is busy ({_holder(path, exc)}); waited {wait_s:g}s. "
                    "Try again when that run has finished."
                ) from exc
            time.sleep(min(delay, left))
            delay = min(delay * 2, 0.5)
    con.execute("SET TimeZone = 'UTC'")
    # Long statements (a migration, a restore) would otherwise draw a bar on stderr, which
    # ends up in run logs as noise.
    con.execute("SET enable_progress_bar = false")
    return con


class Warehouse:
    """The DuckDB warehouse: one connection, the upsert, backups and queries."""

    #: How this backend spells what the two backends' SQL writes differently.
    dialect = DUCKDB

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path, read_only: bool) -> None:
        self.con = con
        self.path = path
        self.read_only = read_only

    @property
    def sql_con(self) -> SqlCon:
        """The connection the shared statements run on."""
        return self.con

    @classmethod
    @contextmanager
    def open(
        cls,
        path: Path,
        *,
        read_only: bool = False,
        wait_s: float = 10.0,
        owner: str | None = None,
        memory_limit: str | None = None,
        threads: int | None = None,
    ) -> Iterator[Warehouse]:
        """Open (creating and migrating when writable); always closes on exit.

        ``owner`` (e.g. "dagster run 1a2b…") is shown to anyone who finds it busy.
        """
        path = Path(path)
        with contextlib.ExitStack() as stack:
            if not read_only:
                # Re-entrant: a run's steps open it under the hold their run already has.
                stack.enter_context(hold_warehouse(path, owner=owner, wait_s=wait_s))
            con = connect(
                path,
                read_only=read_only,
                wait_s=wait_s,
                memory_limit=memory_limit,
                threads=threads,
            )
            try:
                if read_only:
                    check_readable(con, f"warehouse {path}")
                else:
                    apply_migrations(con)
                try:
                    yield cls(con, path, read_only)
                except duckdb.OutOfMemoryException as exc:
                    # Wherever it happens (a run, a CLI read), one line naming the setting.
                    raise OutOfMemory(
                        out_of_memory_hint(exc, current_limits().memory_limit) or str(exc)
                    ) from exc
            finally:
                con.close()

    # -- writing -------------------------------------------------------------------------

    def ingest(
        self,
        batches: Iterable[pa.RecordBatch],
        *,
        dump: DumpRecord,
        chat_id: int | None = None,
        prefetch: bool = True,
        recognise_unchanged: bool = True,
    ) -> IngestResult:
        """Upsert one dump in ONE transaction; see :mod:`.upsert`. A dump already applied
        since the last delete is recognised by its fingerprint and not read again."""
        return _upsert.ingest(
            self.con,
            batches,
            dump=dump,
            chat_id=chat_id,
            prefetch=prefetch,
            recognise_unchanged=recognise_unchanged,
        )

    def record_dump_failure(self, dump: DumpRecord, error: str) -> None:
        record_dump_failure(self.con, dump, error)

    def counts_stale(self) -> bool:
        """Whether messages changed after the counts were last recomputed (a crash)."""
        return _counts.counts_stale(self.con)

    def refresh_counts(self) -> list[CountSnapshot]:
        """Recompute the counts; the rows that changed."""
        return _counts.refresh_counts(self.con)

    def pending_count_events(self) -> list[PendingCount]:
        """Count changes whose events are not in the outbox yet (see migration 5)."""
        return _counts.pending_count_events(self.con)

    def count_events_queued(self, up_to_version: int) -> int:
        """The outbox holds the events of every pending change up to ``up_to_version``."""
        return _counts.count_events_queued(self.con, up_to_version)

    def store_audit_events(self, events: Iterable[dict[str, Any]]) -> int:
        return store_audit_events(self.con, events)

    def delete_messages(self, f: MessageFilter) -> Deletion:
        """Delete what ``f`` selects (never everything: see :meth:`delete_all`)."""
        deleted, changes = _queries.delete_messages(self.con, f)
        return Deletion(deleted, changes)

    def delete_all(self) -> Deletion:
        deleted, changes = _queries.delete_all(self.con)
        return Deletion(deleted, changes)

    # -- backups -------------------------------------------------------------------------

    def backup(
        self, dest_dir: Path, *, fmt: str, row_group_size: int = 100_000, keep_last: int = 10
    ) -> BackupFile:
        return write_backup(
            self.con, dest_dir, fmt=fmt, row_group_size=row_group_size, keep_last=keep_last
        )

    def verify_backup(self, backup: Path) -> BackupCheck:
        return verify_backup(self.con, backup)

    # -- inspection ----------------------------------------------------------------------

    def table_schema(self, table: str) -> dict[str, str]:
        rows = self.con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
            [table],
        ).fetchall()
        if not rows:
            raise TgPipelineError(f"no table {table!r} in the warehouse")
        return {name: dtype for name, dtype in rows}

    def preview(self, n: int = 5) -> list[dict[str, Any]]:
        """The latest ``n`` messages as JSON-safe dicts (instants as ISO-8601 text)."""
        table = _queries.messages(self.con, MessageFilter(), limit=n, desc=True)
        rows = table.to_pylist()
        for row in rows:
            for key, value in row.items():
                if isinstance(value, datetime):
                    row[key] = value.isoformat()
        return rows

    def row_counts(self) -> dict[str, int]:
        union = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in TABLES)
        return {name: int(n) for name, n in self.con.execute(union).fetchall()}

    def duplicate_keys(self) -> int:
        row = self.con.execute(
            "SELECT count(*) FROM (SELECT chat_id, message_id FROM messages "
            "GROUP BY chat_id, message_id HAVING count(*) > 1)"
        ).fetchall()[0]
        return int(row[0]) if row else 0

    def missing_reply_targets(self) -> int:
        row = self.con.execute(
            "SELECT count(*) FROM messages m WHERE m.reply_to_message_id IS NOT NULL "
            "AND NOT EXISTS (SELECT 1 FROM messages t WHERE t.chat_id = m.chat_id "
            "AND t.message_id = m.reply_to_message_id)"
        ).fetchall()[0]
        return int(row[0]) if row else 0

    def counts_mismatch(self) -> int:
        return _counts.counts_mismatch(self.con)

    # -- query side ----------------------------------------------------------------------

    def messages(
        self, f: MessageFilter, *, limit: int | None, offset: int = 0, desc: bool = False
    ) -> pa.Table:
        return _queries.messages(self.con, f, limit=limit, offset=offset, desc=desc)

    def count_messages(self, f: MessageFilter) -> int:
        return _queries.count_matching(self.con, f)

    def counts(self, chat: str | None = None) -> pa.Table:
        return _queries.counts(self.con, chat)

    def chats(self) -> pa.Table:
        return _queries.chats(self.con)

    # Streamed reads: Arrow batches produced as they are read, for outputs of any size.
    # Each reader must be drained while the warehouse is open.

    def messages_reader(
        self, f: MessageFilter, *, limit: int | None, offset: int = 0, desc: bool = False
    ) -> pa.RecordBatchReader:
        return _queries.messages_reader(self.con, f, limit=limit, offset=offset, desc=desc)

    def counts_reader(
        self,
        chat: str | None = None,
        *,
        overall: bool = False,
        limit: int | None = None,
        offset: int = 0,
    ) -> pa.RecordBatchReader:
        if overall:
            return _queries.overall_counts_reader(self.con, limit=limit, offset=offset)
        return _queries.counts_reader(self.con, chat, limit=limit, offset=offset)

    def chats_reader(self, *, limit: int | None = None, offset: int = 0) -> pa.RecordBatchReader:
        return _queries.chats_reader(self.con, limit=limit, offset=offset)

    def count_rows(self, what: str, chat: str | None = None) -> int:
        return _queries.count_rows(self.con, what, chat)

    def dumps(self) -> pa.Table:
        return _queries.dumps(self.con)
