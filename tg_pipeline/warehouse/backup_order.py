"""The rows of ``messages`` in key order ``(chat_id, message_id)``, without one big sort.

Dumps list messages in key order, so a table filled one dump at a time is usually stored
in key order: a scan of the two key columns checks that, and then the backup is one plain
scan in storage order, checked again batch by batch as it passes. Otherwise the keys
alone are sorted once to find the boundaries of key ranges (a whole number per row
group), and each range is selected (pruned by zone maps) and, if it comes back out of
order, sorted on its own in Arrow. A sort of the whole wide table would cost several
times a plain scan and fails under the memory limit.
"""

from __future__ import annotations

from collections.abc import Generator

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from tg_pipeline.errors import TgPipelineError

#: Rows per batch from DuckDB: DuckDB's own buffering while streaming to Arrow grows with
#: the batch, and larger batches read no faster.
FETCH_ROWS = 8_192
#: Rows per key range when the table is not stored in key order: a range is read whole
#: and possibly sorted, so it sets that path's memory.
_RANGE_ROWS = 25_000
_KEY_ORDER = [("chat_id", "ascending"), ("message_id", "ascending")]


def _stored_in_key_order(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether a plain scan yields the rows in key order. Only the two key columns are
    read."""
    last: tuple[int, int] | None = None
    with con.sql("SELECT chat_id, message_id FROM messages").to_arrow_reader(FETCH_ROWS) as keys:
        for batch in keys:
            if not _continues(last, batch):
                return False
            last = _last_key(batch)
    return True


def _stored_order(con: duckdb.DuckDBPyConnection, select: str) -> Generator[pa.Table, None, None]:
    """The rows as stored. The key order found by :func:`_stored_in_key_order` is
    checked again on the way, so the file is in key order whatever the scan does."""
    last: tuple[int, int] | None = None
    with con.sql(f"SELECT {select} FROM messages").to_arrow_reader(FETCH_ROWS) as reader:
        for batch in reader:
            if not _continues(last, batch):
                raise TgPipelineError("messages did not come back in key order; no backup made")
            last = _last_key(batch)
            yield pa.Table.from_batches([batch])


def _range_starts(con: duckdb.DuckDBPyConnection, size: int) -> list[tuple[int, int]]:
    """Every ``size``-th key in key order: where each range starts. The keys stream
    through sorted (DuckDB spills the sort if it must), never held all at once."""
    query = con.sql("SELECT chat_id, message_id FROM messages ORDER BY chat_id, message_id")
    starts: list[tuple[int, int]] = []
    seen = 0
    with query.to_arrow_reader(FETCH_ROWS) as reader:
        for batch in reader:
            picks = pa.array(range((-seen) % size, batch.num_rows, size), pa.int64())
            if len(picks):
                keys = batch.take(picks)
                starts.extend(
                    zip(keys.column(0).to_pylist(), keys.column(1).to_pylist(), strict=True)
                )
            seen += batch.num_rows
    return starts


def _ranges(
    con: duckdb.DuckDBPyConnection, starts: list[tuple[int, int]], select: str
) -> Generator[pa.Table, None, None]:
    for i, (lo_chat, lo_msg) in enumerate(starts):
        if i + 1 < len(starts):
            hi_chat, hi_msg = starts[i + 1]
            where = (
                "chat_id BETWEEN $1 AND $3 AND (chat_id, message_id) >= ($1, $2) "
                "AND (chat_id, message_id) < ($3, $4)"
            )
            if lo_chat == hi_chat:
                where += " AND message_id >= $2 AND message_id < $4"
            params = [lo_chat, lo_msg, hi_chat, hi_msg]
        else:
            where = "chat_id >= $1 AND (chat_id, message_id) >= ($1, $2)"
            params = [lo_chat, lo_msg]
        chunk = (
            con.sql(f"SELECT {select} FROM messages WHERE {where}", params=params)
            .to_arrow_reader(FETCH_ROWS)
            .read_all()
        )
        yield chunk if _in_key_order(chunk) else chunk.take(pc.sort_indices(chunk, _KEY_ORDER))


def key_ordered(
    con: duckdb.DuckDBPyConnection, select: str, row_group_size: int
) -> tuple[Generator[pa.Table, None, None], int]:
    """The rows in key order as tables, and the most rows one table holds: one scan
    when the table is stored in key order, else key ranges (see the module docstring)."""
    if _stored_in_key_order(con):
        return _stored_order(con, select), FETCH_ROWS
    # A whole number of ranges per row group keeps them from being cut.
    parts = -(-row_group_size // _RANGE_ROWS)
    size = -(-row_group_size // parts)
    return _ranges(con, _range_starts(con, size), select), size


def _continues(last: tuple[int, int] | None, batch: pa.RecordBatch) -> bool:
    """Whether ``batch`` is in key order and starts after the key ``last``."""
    if not batch.num_rows:
        return True
    first = (batch.column("chat_id")[0].as_py(), batch.column("message_id")[0].as_py())
    return (last is None or last < first) and _in_key_order(pa.Table.from_batches([batch]))


def _last_key(batch: pa.RecordBatch) -> tuple[int, int] | None:
    if not batch.num_rows:
        return None
    n = batch.num_rows - 1
    return batch.column("chat_id")[n].as_py(), batch.column("message_id")[n].as_py()


def _in_key_order(table: pa.Table) -> bool:
    """Whether (chat_id, message_id) strictly increases down the table."""
    if table.num_rows < 2:
        return True
    chats = table.column("chat_id").combine_chunks()
    ids = table.column("message_id").combine_chunks()
    n = table.num_rows
    c0, c1 = chats.slice(0, n - 1), chats.slice(1)
    m0, m1 = ids.slice(0, n - 1), ids.slice(1)
    rising = pc.or_(pc.less(c0, c1), pc.and_(pc.equal(c0, c1), pc.less(m0, m1)))
    return bool(pc.all(rising).as_py())
