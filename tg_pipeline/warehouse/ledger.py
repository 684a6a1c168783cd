"""The dumps ledger: which dump was applied when, with what outcome, and whether a dump
already applied can be recognised without reading it again."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import orjson

from tg_pipeline.warehouse.dialect import SqlCon
from tg_pipeline.warehouse.models import DumpRecord, IngestResult


def recognise(con: SqlCon, dump: DumpRecord, chat_id: int | None) -> IngestResult | None:
    """The result of re-applying ``dump``, when that is known to change nothing.

    That holds for a dump with the same content (fingerprint) and the same caller-given
    chat id already ingested while nothing has been deleted since (same delete
    generation): every stored row is then at least as good as the dump's version of it.
    The chats come from ``chat_dumps`` and the senders from the dumps row, as the earlier
    ingest saw them.
    """
    row = con.execute(
        """
        SELECT d.dump_id, d.row_count, d.senders FROM dumps d JOIN warehouse_state s
          ON s.key = 'delete_generation' AND d.delete_generation = s.value
        WHERE d.fingerprint = $1 AND d.status = 'ingested'
          AND d.chat_id_given IS NOT DISTINCT FROM $2
        ORDER BY d.ingested_at DESC LIMIT 1
        """,
        [dump.fingerprint, chat_id],
    ).fetchall()
    if not row:
        return None
    dump_id, rows, senders = row[0]
    chats = con.execute(
        "SELECT chat_id FROM chat_dumps WHERE dump_id = ? ORDER BY chat_id", [dump_id]
    ).fetchall()
    rows = int(rows or 0)
    return IngestResult(
        new=0,
        updated=0,
        unchanged=rows,
        rows=rows,
        chats=[c for (c,) in chats],
        senders=list(orjson.loads(senders)) if senders else [],
    )


def record_ingested(
    con: SqlCon,
    dump: DumpRecord,
    *,
    rows: int,
    new: int,
    updated: int,
    senders: Iterable[str],
    chat_id_given: int | None,
    now: datetime,
) -> None:
    """Note ``dump`` as applied at the current delete generation (see :func:`recognise`).

    A dump applied before keeps its row when this application changed nothing.
    """
    con.execute(
        """
        INSERT INTO dumps (dump_id, fingerprint, kind, source, files, status, error,
                           row_count, new_count, updated_count, unchanged_count, ingested_at,
                           delete_generation, chat_id_given, senders)
        VALUES ($1, $2, $3, $4, $5, 'ingested', NULL, $6, $7, $8, $9, $10,
                (SELECT value FROM warehouse_state WHERE key = 'delete_generation'),
                $11, $12)
        ON CONFLICT (dump_id) DO UPDATE SET
            fingerprint = excluded.fingerprint, kind = excluded.kind,
            source = excluded.source, files = excluded.files, status = 'ingested',
            error = NULL, row_count = excluded.row_count, new_count = excluded.new_count,
            updated_count = excluded.updated_count,
            unchanged_count = excluded.unchanged_count, ingested_at = excluded.ingested_at,
            delete_generation = excluded.delete_generation,
            chat_id_given = excluded.chat_id_given, senders = excluded.senders
        WHERE dumps.status <> 'ingested' OR excluded.new_count + excluded.updated_count > 0
        """,
        [
            dump.dump_id,
            dump.fingerprint,
            dump.kind,
            dump.source,
            orjson.dumps([str(f) for f in dump.files]).decode(),
            rows,
            new,
            updated,
            rows - new - updated,
            now,
            chat_id_given,
            orjson.dumps(sorted(senders)).decode(),
        ],
    )
    # A full re-read that changed nothing keeps the row as it was, but the dump is now
    # known to be applied at the current generation.
    con.execute(
        """
        UPDATE dumps SET delete_generation = s.value
        FROM warehouse_state s
        WHERE s.key = 'delete_generation' AND dumps.dump_id = $1
          AND dumps.fingerprint = $2 AND dumps.status = 'ingested'
          AND dumps.chat_id_given IS NOT DISTINCT FROM $3
          AND dumps.delete_generation IS DISTINCT FROM s.value
        """,
        [dump.dump_id, dump.fingerprint, chat_id_given],
    )


def record_dump_failure(con: SqlCon, dump: DumpRecord, error: str) -> None:
    """Remember a dump that could not be read, so status reports can say why."""
    con.execute(
        """
        INSERT INTO dumps (dump_id, fingerprint, kind, source, files, status, error,
                           row_count, new_count, updated_count, unchanged_count, ingested_at)
        VALUES ($1, $2, $3, $4, $5, 'quarantined', $6, 0, 0, 0, 0, $7)
        ON CONFLICT (dump_id) DO UPDATE SET status = 'quarantined', error = excluded.error,
            ingested_at = excluded.ingested_at
        """,
        [
            dump.dump_id,
            dump.fingerprint,
            dump.kind,
            dump.source,
            orjson.dumps([str(f) for f in dump.files]).decode(),
            error,
            datetime.now(UTC),
        ],
    )
