"""The PostgreSQL warehouse: the :class:`~tg_pipeline.warehouse.connection.Warehouse`
API over one ADBC session (:mod:`.session`).

A writer's work is one transaction per unit (an ingest, a counts refresh, a delete);
readers read committed data and never wait for a writer, and writers of different dumps
run side by side, so no lock file or pool is needed. Counts refreshes and deletes take
turns through an advisory lock, because each recomputes the whole counts table.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Generator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from tg_pipeline.errors import TgPipelineError
from tg_pipeline.warehouse.audit import store_audit_events
from tg_pipeline.warehouse.backend import redacted
from tg_pipeline.warehouse.backup import BackupFile, Snapshot, write_backup_from
from tg_pipeline.warehouse.backup_check import BackupCheck, verify_backup
from tg_pipeline.warehouse.chat_stats import delete_where
from tg_pipeline.warehouse.columns import RECORD_COLUMNS, TABLES
from tg_pipeline.warehouse.counts import (
    counts_mismatch,
    counts_stale,
    pending_count_events,
    refresh_counts_in_transaction,
)
from tg_pipeline.warehouse.dialect import POSTGRES, Dialect, SqlCon
from tg_pipeline.warehouse.ledger import record_dump_failure
from tg_pipeline.warehouse.models import (
    CountSnapshot,
    Deletion,
    DumpRecord,
    IngestResult,
    PendingCount,
)
from tg_pipeline.warehouse.pg import upsert as _upsert
from tg_pipeline.warehouse.pg.migrations import apply_migrations, check_readable
from tg_pipeline.warehouse.pg.session import PgError, PgSession
from tg_pipeline.warehouse.query_sql import (
    DUMPS,
    MESSAGES_OUT_SCHEMA,
    OVERALL_COUNTS,
    MessageFilter,
    chats_sql,
    count_rows_query,
    counts_query,
    limited,
    where_clause,
)

#: Advisory lock key for whole-table count recomputations (refresh, delete).
_COUNTS_LOCK = 0x7467_5F63_6E74

#: PostgreSQL's SQLSTATE for a regular expression it cannot compile.
_INVALID_REGEX = "2201B"


@contextmanager
def _invalid_filter() -> Iterator[None]:
    """A filter PostgreSQL rejects (a bad regular expression) as one clear line, as the
    DuckDB warehouse reports it, instead of the driver's error."""
    try:
        yield
    except PgError as exc:
        if getattr(exc, "sqlstate", None) != _INVALID_REGEX:
            raise
        first = str(exc).splitlines()[0]
        reason = re.search(r"ERROR:\s+(.*)", first)
        raise TgPipelineError(f"invalid filter: {reason[1] if reason else first}") from exc


@dataclass
class _PgSnapshot:
    session: PgSession
    rows: int
    dialect: Dialect = POSTGRES

    def ordered(
        self, select: str, row_group_size: int
    ) -> tuple[Generator[pa.Table, None, None], int]:
        reader = self.session.execute(
            f"SELECT {select} FROM messages ORDER BY chat_id, message_id"
        ).reader()

        def tables() -> Generator[pa.Table, None, None]:
            for batch in reader:
                yield pa.Table.from_batches([batch])

        return tables(), row_group_size


class PgWarehouse:
    """The warehouse in a PostgreSQL database."""

    dialect = POSTGRES

    def __init__(self, session: PgSession, url: str, read_only: bool) -> None:
        self.session = session
        self.url = url
        self.read_only = read_only

    @property
    def sql_con(self) -> SqlCon:
        return self.session

    @classmethod
    @contextmanager
    def open(cls, url: str, *, read_only: bool = False) -> Iterator[PgWarehouse]:
        """Open (migrating when writable); always closes on exit. A reader is in
        autocommit mode: each query sees what was committed when it started."""
        session = PgSession(url, autocommit=read_only)
        try:
            if read_only:
                check_readable(session, f"warehouse {redacted(url)}")
            else:
                apply_migrations(session)
            yield cls(session, url, read_only)
        finally:
            session.close()

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
        """Upsert one dump in ONE transaction (see :mod:`.upsert`)."""
        return _upsert.ingest(
            self.session,
            batches,
            dump=dump,
            chat_id=chat_id,
            prefetch=prefetch,
            recognise_unchanged=recognise_unchanged,
        )

    def record_dump_failure(self, dump: DumpRecord, error: str) -> None:
        with self._transaction():
            record_dump_failure(self.session, dump, error)

    def counts_stale(self) -> bool:
        with self._transaction():
            return counts_stale(self.session)

    def refresh_counts(self) -> list[CountSnapshot]:
        with self._transaction():
            self.session.execute("SELECT pg_advisory_xact_lock(?)", [_COUNTS_LOCK])
            return refresh_counts_in_transaction(self.session, POSTGRES)

    def pending_count_events(self) -> list[PendingCount]:
        with self._transaction():
            return pending_count_events(self.session)

    def count_events_queued(self, up_to_version: int) -> int:
        """Forget pending changes up to ``up_to_version``: the outbox holds their events."""
        return self._scalar(
            POSTGRES.counted("DELETE FROM count_events_pending WHERE version <= ?"),
            [up_to_version],
        )

    def store_audit_events(self, events: Iterable[dict[str, Any]]) -> int:
        with self._transaction():
            return store_audit_events(self.session, events, POSTGRES)

    def delete_messages(self, f: MessageFilter) -> Deletion:
        if f.is_empty():
            raise TgPipelineError(
                "refusing to delete without a filter; give a filter or delete everything "
                "explicitly (delete_all / --all)"
            )
        where, params = where_clause(f, POSTGRES)
        return self._delete(where, params)

    def delete_all(self) -> Deletion:
        return self._delete("TRUE", [])

    def _delete(self, where: str, params: list[Any]) -> Deletion:
        s = self.session
        with self._transaction():
            s.execute("SELECT pg_advisory_xact_lock(?)", [_COUNTS_LOCK])
            deleted = delete_where(s, where, params, POSTGRES)
            if deleted:
                # Dumps ingested before would bring the rows back: read them again.
                s.execute(
                    "UPDATE warehouse_state SET value = value + 1 WHERE key = 'delete_generation'"
                )
            changed = refresh_counts_in_transaction(s, POSTGRES)
        return Deletion(deleted, changed)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        try:
            with _invalid_filter():
                yield
            if not self.read_only:
                self.session.commit()
        except BaseException:
            with contextlib.suppress(Exception):
                self.session.rollback()
            raise

    # -- backups -------------------------------------------------------------------------

    @contextmanager
    def _snapshot(self) -> Iterator[Snapshot]:
        s = self.session
        with self._transaction():
            # One snapshot for the count and every row, whatever commits meanwhile.
            if not self.read_only:
                s.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                row = s.execute("SELECT count(*) FROM messages").fetchone()
                yield _PgSnapshot(s, int(row[0]) if row else 0)
                return
        raise TgPipelineError("a backup needs a warehouse opened for writing")

    def backup(
        self, dest_dir: Path, *, fmt: str, row_group_size: int = 100_000, keep_last: int = 10
    ) -> BackupFile:
        return write_backup_from(
            self._snapshot(),
            dest_dir,
            fmt=fmt,
            row_group_size=row_group_size,
            keep_last=keep_last,
        )

    def verify_backup(self, backup: Path) -> BackupCheck:
        with self._transaction():
            return verify_backup(self.session, backup, POSTGRES)

    # -- inspection ----------------------------------------------------------------------

    def table_schema(self, table: str) -> dict[str, str]:
        with self._transaction():
            rows = self.session.execute(
                "SELECT column_name, upper(data_type) FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = ? "
                "ORDER BY ordinal_position",
                [table],
            ).fetchall()
        if not rows:
            raise TgPipelineError(f"no table {table!r} in the warehouse")
        return {name: dtype for name, dtype in rows}

    def preview(self, n: int = 5) -> list[dict[str, Any]]:
        """The latest ``n`` messages as JSON-safe dicts (instants as ISO-8601 text)."""
        rows = self.messages(MessageFilter(), limit=n, desc=True).to_pylist()
        for row in rows:
            for key, value in row.items():
                if isinstance(value, datetime):
                    row[key] = value.isoformat()
        return rows

    def missing_reply_targets(self) -> int:
        return self._scalar(
            "SELECT count(*) FROM messages m WHERE m.reply_to_message_id IS NOT NULL "
            "AND NOT EXISTS (SELECT 1 FROM messages t WHERE t.chat_id = m.chat_id "
            "AND t.message_id = m.reply_to_message_id)"
        )

    def _scalar(self, sql: str, params: list[Any] | None = None) -> int:
        with self._transaction():
            row = self.session.execute(sql, params).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def _table(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        with self._transaction():
            return self.session.execute(sql, params).arrow()

    def row_counts(self) -> dict[str, int]:
        union = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in TABLES)
        with self._transaction():
            rows = self.session.execute(union).fetchall()
        return {name: int(n) for name, n in rows}

    def duplicate_keys(self) -> int:
        return self._scalar(
            "SELECT count(*) FROM (SELECT chat_id, message_id FROM messages "
            "GROUP BY chat_id, message_id HAVING count(*) > 1) d"
        )

    def counts_mismatch(self) -> int:
        with self._transaction():
            return counts_mismatch(self.session, POSTGRES)

    # -- query side ----------------------------------------------------------------------

    def messages(
        self, f: MessageFilter, *, limit: int | None, offset: int = 0, desc: bool = False
    ) -> pa.Table:
        sql, params = self._messages_query(f, limit=limit, offset=offset, desc=desc)
        table = self._table(sql, params)
        return pa.Table.from_arrays(
            [table.column(f.name).cast(f.type) for f in MESSAGES_OUT_SCHEMA],
            schema=MESSAGES_OUT_SCHEMA,
        )

    @staticmethod
    def _messages_query(
        f: MessageFilter, *, limit: int | None, offset: int, desc: bool
    ) -> tuple[str, list[Any]]:
        where, params = where_clause(f, POSTGRES)
        order = " DESC" if desc else ""
        sql = limited(
            f"SELECT {', '.join(RECORD_COLUMNS)}, sender_key FROM messages WHERE {where} "
            f"ORDER BY sent_at{order}, chat_id{order}, message_id{order}",
            limit,
            params,
            offset,
        )
        return sql, params

    def count_messages(self, f: MessageFilter) -> int:
        where, params = where_clause(f, POSTGRES)
        return self._scalar(f"SELECT count(*) FROM messages WHERE {where}", params)

    def counts(self, chat: str | None = None) -> pa.Table:
        sql, params = counts_query(chat, POSTGRES)
        return self._table(sql, params)

    def overall_counts(self, *, limit: int | None = None, offset: int = 0) -> pa.Table:
        params: list[Any] = []
        return self._table(limited(OVERALL_COUNTS, limit, params, offset), params)

    def chats(self, *, limit: int | None = None, offset: int = 0) -> pa.Table:
        params: list[Any] = []
        return self._table(limited(chats_sql(POSTGRES), limit, params, offset), params)

    def count_rows(self, what: str, chat: str | None = None) -> int:
        sql, params = count_rows_query(what, chat, POSTGRES)
        return self._scalar(sql, params)

    def dumps(self) -> pa.Table:
        return self._table(DUMPS)

    # Streamed reads, as Arrow batches while the server sends them; each reader must be
    # drained while the warehouse is open.

    def _reader(self, sql: str, params: list[Any], schema: pa.Schema | None = None) -> Any:
        with _invalid_filter():
            source = self.session.execute(sql, params).reader()
        if schema is None:
            return source

        def batches() -> Iterator[pa.RecordBatch]:
            with _invalid_filter():
                for batch in source:
                    yield pa.RecordBatch.from_arrays(
                        [batch.column(f.name).cast(f.type) for f in schema], schema=schema
                    )

        return pa.RecordBatchReader.from_batches(schema, batches())

    def messages_reader(
        self, f: MessageFilter, *, limit: int | None, offset: int = 0, desc: bool = False
    ) -> pa.RecordBatchReader:
        sql, params = self._messages_query(f, limit=limit, offset=offset, desc=desc)
        return self._reader(sql, params, MESSAGES_OUT_SCHEMA)

    def counts_reader(
        self,
        chat: str | None = None,
        *,
        overall: bool = False,
        limit: int | None = None,
        offset: int = 0,
    ) -> pa.RecordBatchReader:
        if overall:
            params: list[Any] = []
            return self._reader(limited(OVERALL_COUNTS, limit, params, offset), params)
        sql, params = counts_query(chat, POSTGRES)
        return self._reader(limited(sql, limit, params, offset), params)

    def chats_reader(self, *, limit: int | None = None, offset: int = 0) -> pa.RecordBatchReader:
        params: list[Any] = []
        return self._reader(limited(chats_sql(POSTGRES), limit, params, offset), params)
