"""Arrow data registered with DuckDB under a name the SQL reads it by, never by a Python local."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import TracebackType
from typing import TYPE_CHECKING

import pyarrow as pa

from tg_pipeline.warehouse.dialect import SqlCon

if TYPE_CHECKING:
    import duckdb


class ArrowSlot:
    """Registered with a connection once, as ``name``; :meth:`hold` puts a table in it.

    DuckDB keeps whatever is registered alive until the transaction ends, even once it is
    unregistered, so registering each round's table would hold every round until COMMIT.
    The slot is registered once instead: DuckDB reads the table it holds at each statement,
    through the Arrow C stream interface. Every table held has the slot's ``schema``.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, name: str, schema: pa.Schema) -> None:
        self._con = con
        self.name = name
        self._empty = schema.empty_table()
        self._table = self._empty

    def hold(self, table: pa.Table) -> None:
        self._table = table

    def release(self) -> None:
        """Let go of the table held, so its memory is free before the next one is built."""
        self._table = self._empty

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        return self._table.__arrow_c_stream__(requested_schema)

    def __enter__(self) -> ArrowSlot:
        self._con.register(self.name, self)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
        if exc is None:
            self._con.unregister(self.name)
            return
        # A connection that failed mid-statement may refuse this too; the ROLLBACK that
        # follows takes the registration away, and the first error is the one to report.
        with contextlib.suppress(Exception):
            self._con.unregister(self.name)


@contextlib.contextmanager
def registered(con: SqlCon, name: str, value: object) -> Iterator[None]:
    """``value`` (an Arrow table or stream) readable by SQL as ``name`` inside the block.

    For a value read once per transaction: DuckDB holds it until the transaction ends.
    """
    con.register(name, value)
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):
            con.unregister(name)
        raise
    con.unregister(name)
