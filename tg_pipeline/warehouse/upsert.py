"""The one upsert every dump goes through: HTML, JSON and backups alike.

A dump streams in as Arrow batches, applied in rounds (:mod:`.rounds`) of about
:data:`~.rounds.GROUP_ROWS` rows. Staging whole dumps in a temp table first would compress
every row twice; rounds keep memory bounded and let the key range of a round prune the
stored table through zone maps. A backup that is all new goes in with one scan of its
file instead (:mod:`.direct_scan`).

A dump whose content was already ingested, with nothing deleted since, is recognised by
its fingerprint and not read at all (:func:`.ledger.recognise`).

All rounds run inside one transaction, so a dump lands whole or not at all (an exception
from the reader rolls it back too), and a key that appears again in a later round of the
same dump is compared with the version an earlier round just wrote.

The reader runs on a helper thread a couple of batches ahead: parsing is Python, the
upsert is DuckDB (which releases the GIL), so the two overlap on two cores.

Which version of a message wins is decided by ``(edit time, quality)``
(:func:`.columns.edit_rank_sql`, :func:`.columns.quality_sql`): an incoming row replaces
the stored one only when it is strictly better, so re-ingesting a dump changes nothing
and an older export never overwrites a newer edit. Within one dump the newest edit wins,
and a later occurrence of a key wins a tie.

Chats without an id (HTML) are resolved on the way, see :mod:`.chat_identity`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import duckdb
import pyarrow as pa

from tg_pipeline.errors import TgPipelineError
from tg_pipeline.warehouse.counts import mark_counts_stale
from tg_pipeline.warehouse.direct_scan import (
    SCAN_MEMORY_LIMIT,
    SCAN_THREADS,
    WAREHOUSE_ERRORS,
    insert_scanned,
    offered_scan,
    scannable,
)
from tg_pipeline.warehouse.ledger import recognise
from tg_pipeline.warehouse.models import DumpRecord, IngestResult
from tg_pipeline.warehouse.prefetch import Prefetch
from tg_pipeline.warehouse.rounds import Upsert


def ingest(
    con: duckdb.DuckDBPyConnection,
    batches: Iterable[pa.RecordBatch],
    *,
    dump: DumpRecord,
    chat_id: int | None = None,
    prefetch: bool = True,
    recognise_unchanged: bool = True,
) -> IngestResult:
    """:func:`_ingest`, with DuckDB running out of memory said in one line naming the file."""
    try:
        return _ingest(
            con,
            batches,
            dump=dump,
            chat_id=chat_id,
            prefetch=prefetch,
            recognise_unchanged=recognise_unchanged,
        )
    except duckdb.OutOfMemoryException as exc:
        raise _out_of_memory(con, exc) from exc


def _ingest(
    con: duckdb.DuckDBPyConnection,
    batches: Iterable[pa.RecordBatch],
    *,
    dump: DumpRecord,
    chat_id: int | None = None,
    prefetch: bool = True,
    recognise_unchanged: bool = True,
) -> IngestResult:
    """Upsert one dump in one transaction; any exception (the reader's too) rolls it back.

    A dump already applied (see :func:`recognise`) is not read at all: ``batches`` is
    closed unconsumed, so a reader's worker pool shuts down. ``recognise_unchanged=False``
    reads and upserts it anyway (the result is the same; benchmarks use it to measure
    the upsert's own cost).

    DuckDB runs single-threaded meanwhile: it only splits an insert across threads beyond
    a row group (122,880 rows) per thread, and a round here is smaller (to bound memory),
    where a second thread slows it down. The reader thread has the other core.

    A reader that offers a direct scan of its file (a Parquet or CSV backup; see
    :class:`~tg_pipeline.records.ScannableRecords`) and whose file is all new goes in with one
    INSERT that DuckDB reads from the file on :data:`SCAN_THREADS` threads, with no Python
    reader beside it. When DuckDB cannot read the file as it is, or the inserted rows show
    the file was not all new, the scan is rolled back and the batches are read instead:
    they restore the file, or raise the reader's DumpError naming the place.
    """
    if recognise_unchanged:
        known = recognise(con, dump, chat_id)
        if known is not None:
            close = getattr(batches, "close", None)
            if close is not None:
                close()
            return known
    threads, memory = con.execute(
        "SELECT current_setting('threads'), current_setting('memory_limit')"
    ).fetchall()[0]
    source: Prefetch | None = None
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            upsert = Upsert(con, dump, chat_id)
            scan = offered_scan(batches)
            scanned: IngestResult | None = None
            if scan is not None and scannable(con, scan):
                con.execute(f"SET threads = {SCAN_THREADS}")
                con.execute(f"SET memory_limit = '{SCAN_MEMORY_LIMIT}'")
                try:
                    scanned = insert_scanned(upsert, scan)
                except WAREHOUSE_ERRORS:
                    raise
                except duckdb.Error:
                    scanned = None
                if scanned is None:
                    # The batches, still unread, restore the file or raise its DumpError.
                    con.execute("ROLLBACK")
                    con.execute("BEGIN TRANSACTION")
                    con.execute(f"SET memory_limit = '{memory}'")
                    upsert = Upsert(con, dump, chat_id)
            if scanned is not None:
                result = scanned
            else:
                con.execute("SET threads = 1")
                source = Prefetch(batches) if prefetch else None
                result = upsert.run(source if source is not None else batches)
            if result.new or result.updated:
                mark_counts_stale(con)
            try:
                con.execute("COMMIT")
            except duckdb.TransactionException as exc:
                raise _commit_error(exc, memory) from exc
        except BaseException:
            # A failed COMMIT has already rolled back; its error is the one to report.
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            raise
    finally:
        try:
            if source is not None:
                source.close()
        finally:
            # After a fatal error (a full disk) DuckDB refuses every statement; that refusal
            # must not hide the error that caused it.
            with contextlib.suppress(duckdb.Error):
                con.execute(f"SET threads = {int(threads)}")
                con.execute(f"SET memory_limit = '{memory}'")
    return result


def _out_of_memory(
    con: duckdb.DuckDBPyConnection, exc: duckdb.OutOfMemoryException
) -> TgPipelineError:
    """Name the warehouse file and the knob: DuckDB's own message names neither."""
    path, memory = "the warehouse", "?"
    with contextlib.suppress(duckdb.Error):
        setting = con.execute("SELECT current_setting('memory_limit')").fetchone()
        if setting is not None:
            memory = str(setting[0])
        row = con.execute("SELECT path FROM duckdb_databases() WHERE NOT internal").fetchone()
        if row is not None:
            path = str(row[0])
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return TgPipelineError(
        f"{path}: DuckDB ran out of memory (limit {memory}); nothing of the dump was stored. "
        f"Raise TG_DUCKDB_MEMORY_LIMIT ({detail})"
    )


def _commit_error(exc: duckdb.TransactionException, memory: str) -> Exception:
    """DuckDB pins a transaction's large values in memory at COMMIT; say what to change."""
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "pin block" not in detail and "allocate" not in detail:
        return exc
    return TgPipelineError(
        f"the dump's large values do not fit DuckDB's memory limit ({memory}) at commit; "
        f"nothing was stored. Raise TG_DUCKDB_MEMORY_LIMIT for this dump ({detail})"
    )
