"""The read and delete side used by the CLI on DuckDB: listings, streamed reads, deletes.

The statements and the filter are shared with PostgreSQL (:mod:`.query_sql`); this module
runs them on a DuckDB connection. (The old service's delete ran ``WHERE 1=1``; here an
empty filter is refused outright.)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import duckdb
import pyarrow as pa

from tg_pipeline.errors import TgPipelineError
from tg_pipeline.warehouse.chat_stats import delete_where
from tg_pipeline.warehouse.columns import RECORD_COLUMNS
from tg_pipeline.warehouse.counts import refresh_counts_in_transaction
from tg_pipeline.warehouse.dialect import DUCKDB
from tg_pipeline.warehouse.models import CountSnapshot
from tg_pipeline.warehouse.query_sql import (
    DUMPS,
    MESSAGES_OUT_SCHEMA,
    OVERALL_COUNTS,
    MessageFilter,
    chats_sql,
    count_rows_query,
    counts_query,
    limited,
    settle,
    where_clause,
)


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> pa.Table:
    return stream(con, sql, params).read_all()


#: Rows per Arrow batch a streamed read hands out: small enough that a batch of long
#: messages stays a few MB, large enough that per-batch overhead does not show.
BATCH_ROWS = 20_000


def stream(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    params: list[Any],
    *,
    schema: pa.Schema | None = None,
    batch_rows: int = BATCH_ROWS,
) -> pa.RecordBatchReader:
    """The result of ``sql`` as Arrow batches, produced while they are read.

    DuckDB streams the result instead of materializing it, so a read of millions of rows
    holds one batch at a time (a sort spills to disk under the memory limit). ``schema``
    casts each batch. The reader must be drained before the connection closes.
    """
    settle(con)
    with _invalid_filter():
        # A relation streams; ``execute(...).to_arrow_reader`` would first copy every row.
        source = con.sql(sql, params=params).to_arrow_reader(batch_rows)
    target = schema or source.schema

    def batches() -> Any:
        with _invalid_filter():
            for batch in source:
                if schema is not None:
                    batch = pa.RecordBatch.from_arrays(
                        [batch.column(i).cast(f.type) for i, f in enumerate(schema)],
                        schema=schema,
                    )
                yield batch

    return pa.RecordBatchReader.from_batches(target, batches())


@contextlib.contextmanager
def _invalid_filter() -> Iterator[None]:
    """A filter DuckDB rejects (a bad regular expression) as one clear line."""
    try:
        yield
    except duckdb.InvalidInputException as exc:
        raise TgPipelineError(f"invalid filter: {str(exc).splitlines()[0]}") from exc


def messages(
    con: duckdb.DuckDBPyConnection,
    f: MessageFilter,
    *,
    limit: int | None,
    offset: int = 0,
    desc: bool = False,
) -> pa.Table:
    """Matching messages in time order: record columns plus ``sender_key``."""
    return messages_reader(con, f, limit=limit, offset=offset, desc=desc).read_all()


#: A sorted read of more rows than this goes window by window (see :func:`messages_reader`).
WINDOW_ROWS = 25_000


def messages_reader(
    con: duckdb.DuckDBPyConnection,
    f: MessageFilter,
    *,
    limit: int | None,
    offset: int = 0,
    desc: bool = False,
) -> pa.RecordBatchReader:
    """:func:`messages`, streamed.

    One ``ORDER BY`` over millions of full rows runs out of DuckDB's memory limit, so a
    long read is cut into windows of ``sent_at`` of about :data:`WINDOW_ROWS` rows each
    (their edges are approximate quantiles of the matching rows), each window sorted on
    its own and the windows read in order. A short read (a page) is one query: DuckDB
    keeps only the top ``limit + offset`` rows for it.
    """
    where, params = where_clause(f)
    order = " DESC" if desc else ""
    select = f"SELECT {', '.join(RECORD_COLUMNS)}, sender_key FROM messages WHERE {where}"
    order_by = f" ORDER BY sent_at{order}, chat_id{order}, message_id{order}"
    if limit is not None and limit + offset <= WINDOW_ROWS:
        sql = select + order_by + " LIMIT ? OFFSET ?"
        return stream(con, sql, [*params, int(limit), int(offset)], schema=MESSAGES_OUT_SCHEMA)
    edges = _window_edges(con, where, params)
    if not edges:
        sql = select + order_by
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        if offset:
            sql += f" OFFSET {int(offset)}"
        return stream(con, sql, params, schema=MESSAGES_OUT_SCHEMA)
    windows = list(zip([None, *edges], [*edges, None], strict=True))
    if desc:
        windows.reverse()

    def batches() -> Any:
        skip, left = offset, limit
        for low, high in windows:
            conditions, bounds = [], []
            if low is not None:
                conditions.append("sent_at >= ?")
                bounds.append(low)
            if high is not None:
                conditions.append("sent_at < ?")
                bounds.append(high)
            sql = f"{select} AND {' AND '.join(conditions)}{order_by}"
            for batch in stream(con, sql, [*params, *bounds], schema=MESSAGES_OUT_SCHEMA):
                if skip >= batch.num_rows:
                    skip -= batch.num_rows
                    continue
                batch, skip = batch.slice(skip), 0
                if left is not None:
                    batch = batch.slice(0, left)
                    left -= batch.num_rows
                if batch.num_rows:
                    yield batch
                if left == 0:
                    return

    return pa.RecordBatchReader.from_batches(MESSAGES_OUT_SCHEMA, batches())


def _window_edges(con: duckdb.DuckDBPyConnection, where: str, params: list[Any]) -> list[Any]:
    """Ascending ``sent_at`` values cutting the matching rows into windows of about
    :data:`WINDOW_ROWS`; none when they fit one window."""
    settle(con)
    with _invalid_filter():
        total = int(
            con.execute(f"SELECT count(*) FROM messages WHERE {where}", params).fetchall()[0][0]
        )
    windows = -(-total // WINDOW_ROWS)
    if windows <= 1:
        return []
    fractions = [i / windows for i in range(1, windows)]
    (edges,) = con.execute(
        f"SELECT approx_quantile(sent_at, {fractions!r}) FROM messages WHERE {where}", params
    ).fetchall()[0]
    return sorted({edge for edge in edges if edge is not None})


def count_matching(con: duckdb.DuckDBPyConnection, f: MessageFilter) -> int:
    """How many messages a filter selects, for a delete's dry run and confirmation."""
    where, params = where_clause(f)
    table = _run(con, f"SELECT count(*) AS n FROM messages WHERE {where}", params)
    return int(table.column(0)[0].as_py())


def _delete(
    con: duckdb.DuckDBPyConnection, where: str, params: list[Any]
) -> tuple[int, list[CountSnapshot]]:
    con.execute("BEGIN TRANSACTION")
    try:
        deleted = delete_where(con, where, params, DUCKDB)
        if deleted:
            # Dumps ingested before this point would bring the rows back: they must be
            # read again instead of being recognised as already applied.
            con.execute(
                "UPDATE warehouse_state SET value = value + 1 WHERE key = 'delete_generation'"
            )
        changed = refresh_counts_in_transaction(con)
        con.execute("COMMIT")
    except duckdb.InvalidInputException as exc:
        # A failed COMMIT has rolled back already; its error is the one to report.
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise TgPipelineError(f"invalid filter: {str(exc).splitlines()[0]}") from exc
    except BaseException:
        # A failed COMMIT has rolled back already; its error is the one to report.
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise
    return deleted, changed


def delete_messages(
    con: duckdb.DuckDBPyConnection, f: MessageFilter
) -> tuple[int, list[CountSnapshot]]:
    """Delete what the filter selects and recompute the counts, in one transaction."""
    if f.is_empty():
        raise TgPipelineError(
            "refusing to delete without a filter; give a filter or delete everything "
            "explicitly (delete_all / --all)"
        )
    where, params = where_clause(f)
    return _delete(con, where, params)


def delete_all(con: duckdb.DuckDBPyConnection) -> tuple[int, list[CountSnapshot]]:
    """Empty ``messages`` (chats, senders and dumps stay as history)."""
    return _delete(con, "TRUE", [])


def counts(con: duckdb.DuckDBPyConnection, chat: str | None = None) -> pa.Table:
    """Per-user counts, biggest first, with the chat's name."""
    return counts_reader(con, chat).read_all()


def counts_reader(
    con: duckdb.DuckDBPyConnection,
    chat: str | None = None,
    *,
    limit: int | None = None,
    offset: int = 0,
) -> pa.RecordBatchReader:
    """:func:`counts`, streamed; at most ``limit`` rows."""
    sql, params = counts_query(chat)
    return stream(con, limited(sql, limit, params, offset), params)


def overall_counts_reader(
    con: duckdb.DuckDBPyConnection, *, limit: int | None = None, offset: int = 0
) -> pa.RecordBatchReader:
    """Counts summed per sender over every chat, biggest first, streamed."""
    sql = OVERALL_COUNTS
    params: list[Any] = []
    return stream(con, limited(sql, limit, params, offset), params)


def count_rows(con: duckdb.DuckDBPyConnection, what: str, chat: str | None = None) -> int:
    """How many rows ``counts`` (``what="counts"``), ``counts --overall`` (``"overall"``)
    or ``chats`` (``"chats"``) has in all, for a table that shows only the first page."""
    sql, params = count_rows_query(what, chat)
    settle(con)
    return int(con.execute(sql, params).fetchall()[0][0])


def chats(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """Every chat with its message count, first/last message time and source dumps."""
    return chats_reader(con).read_all()


def chats_reader(
    con: duckdb.DuckDBPyConnection, *, limit: int | None = None, offset: int = 0
) -> pa.RecordBatchReader:
    """Every chat, streamed. As in ``counts``, ``message_count`` and the first and last
    message times count messages only; service entries (joins, pins, calls) are
    ``service_count``."""
    sql = chats_sql()
    params: list[Any] = []
    return stream(con, limited(sql, limit, params, offset), params)


def dumps(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """Every dump seen, oldest first, with its status and what it changed."""
    return _run(con, DUMPS, [])
