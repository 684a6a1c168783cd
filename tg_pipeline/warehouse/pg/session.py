"""One ADBC connection to PostgreSQL, shaped like the DuckDB connection the shared
statements use (:class:`~tg_pipeline.warehouse.dialect.SqlCon`).

ADBC moves Arrow data in both directions without a row passing through Python: a
bulk load is one binary ``COPY`` of an Arrow table (:meth:`PgSession.load`), and a result
comes back as Arrow batches (:meth:`PgSession.arrow`, :meth:`PgSession.reader`).
"""

from __future__ import annotations

import re
from typing import Any

import adbc_driver_postgresql.dbapi as pg_dbapi
import pyarrow as pa

from tg_pipeline.errors import TgPipelineError
from tg_pipeline.warehouse.backend import redacted

#: PostgreSQL errors as the driver raises them.
PgError = pg_dbapi.Error

_QUOTED = re.compile(r"('(?:[^']|'')*')")


def dollar_params(sql: str) -> str:
    """``?`` placeholders (outside quoted literals) as PostgreSQL's ``$1``, ``$2``, …"""
    if "?" not in sql:
        return sql
    parts = _QUOTED.split(sql)
    n = 0

    def number(_: re.Match[str]) -> str:
        nonlocal n
        n += 1
        return f"${n}"

    for i in range(0, len(parts), 2):
        parts[i] = re.sub(r"\?", number, parts[i])
    return "".join(parts)


class PgSession:
    """A connection in manual-commit mode: each unit of work ends in :meth:`commit` or
    :meth:`rollback`; nothing is visible to others before it commits."""

    def __init__(self, url: str, *, autocommit: bool = False) -> None:
        try:
            self._conn = pg_dbapi.connect(url, autocommit=autocommit)
        except PgError as exc:
            raise TgPipelineError(f"cannot open warehouse {redacted(url)}: {exc}") from exc
        self._cur = self._conn.cursor()
        self.url = url

    def execute(self, query: str, parameters: Any = None, /) -> PgSession:
        params = list(parameters) if parameters else None
        self._cur.execute(dollar_params(query), parameters=params)
        return self

    def fetchall(self) -> list[Any]:
        return list(self._cur.fetchall())

    def fetchone(self) -> Any:
        return self._cur.fetchone()

    def arrow(self) -> pa.Table:
        return self._cur.fetch_arrow_table()

    def reader(self) -> pa.RecordBatchReader:
        return self._cur.fetch_record_batch()

    def load(
        self,
        table: str,
        data: pa.Table | pa.RecordBatch,
        *,
        create: bool,
        temporary: bool = True,
    ) -> int:
        """Bulk-load ``data`` into ``table`` (a temp table unless ``temporary`` is false)
        with one binary COPY; ``data``'s columns in the table's order."""
        return int(
            self._cur.adbc_ingest(
                table, data, mode="create" if create else "append", temporary=temporary
            )
        )

    def register(self, view_name: str, python_object: Any, /) -> None:
        """``python_object`` (an Arrow table) readable as ``view_name`` until unregistered."""
        self.execute(f"DROP TABLE IF EXISTS {view_name}")
        self.load(view_name, python_object, create=True)

    def unregister(self, view_name: str, /) -> None:
        self.execute(f"DROP TABLE IF EXISTS {view_name}")

    def commit(self) -> None:
        self._conn.commit()

    def rollback(self) -> None:
        self._conn.rollback()

    def close(self) -> None:
        try:
            self._cur.close()
        finally:
            self._conn.close()
