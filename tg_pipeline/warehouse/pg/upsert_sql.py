"""The PostgreSQL spellings of the upsert's statements that DuckDB writes differently.

A round's rows are staged as :data:`~tg_pipeline.warehouse.round_sql.BATCH_VIEW`; the
statements that apply its classification (UPDATE, INSERT, names, orphaned names) and the
lookup of a repeated key's places are the DuckDB ones, unchanged (:mod:`.upsert`). Only
these differ: DuckDB's QUALIFY and ``EXCLUDE``, and its zone maps, which PostgreSQL's key
index replaces.
"""

from __future__ import annotations

from tg_pipeline.warehouse.columns import edit_rank_sql, quality_sql, sender_key_sql
from tg_pipeline.warehouse.round_sql import BATCH_VIEW

# The best version of each key in the round (newest edit, then quality, then the later
# occurrence), against the stored row. The same verdicts as the DuckDB CLASSIFY: a stored
# row carrying $1 (this ingest's timestamp) and $2 (the dump id) was written by an earlier
# round of this same ingest, and a tie then goes to the later occurrence ("dup"). Rows
# that change nothing and repeat nothing are left out; the caller counts them.
CLASSIFY = f"""
CREATE TEMP TABLE _tg_cls AS
SELECT * FROM (
    SELECT s._seq, s.chat_id, s.message_id, s.sent_at, s.sender_id, s.sender_name,
           s.sender_key, m.sender_key AS _old_key, m.sender_name AS _old_name,
           -- occurrences of the key in this dump before this one: earlier in the round,
           -- and the row an earlier round of this ingest wrote
           s._n - 1 + CASE WHEN m.updated_at = $1 AND m.ingested_dump = $2 THEN 1 ELSE 0 END
               AS _repeats,
           CASE
               WHEN m.message_id IS NULL THEN 'new'
               WHEN m.updated_at = $1 AND m.ingested_dump = $2
                    AND (s._e, s._q) >= ({edit_rank_sql("m.")}, {quality_sql("m.")}) THEN 'dup'
               WHEN (s._e, s._q) > ({edit_rank_sql("m.")}, {quality_sql("m.")}) THEN 'updated'
               WHEN s.sender_id IS NULL AND s.sender_name IS NOT NULL
                    AND m.sender_id IS NOT NULL
                    AND s.sender_name IS DISTINCT FROM m.sender_name THEN 'alias'
               ELSE 'unchanged'
           END AS _op
    FROM (
        SELECT * FROM (
            SELECT b._seq, b.chat_id, b.message_id, b.sent_at, b.sender_id, b.sender_name,
                   {sender_key_sql("b.")} AS sender_key,
                   {edit_rank_sql("b.")} AS _e, {quality_sql("b.")} AS _q,
                   count(*) OVER (PARTITION BY b.chat_id, b.message_id) AS _n,
                   row_number() OVER (
                       PARTITION BY b.chat_id, b.message_id
                       ORDER BY {edit_rank_sql("b.")} DESC, {quality_sql("b.")} DESC,
                                b._seq DESC
                   ) AS _rn
            FROM {BATCH_VIEW} b
        ) ranked WHERE _rn = 1
    ) s LEFT JOIN messages m ON m.chat_id = s.chat_id AND m.message_id = s.message_id
) c WHERE _op <> 'unchanged' OR _repeats > 0
"""


def stored_in_spans(spans: list[tuple[int, int, int]]) -> str:
    """Whether ``messages`` holds a row of any of ``spans`` (chat id, lowest and highest
    message id), each found through the key index. The values are integers, written
    into the text."""
    values = ", ".join(
        f"({int(chat)}::BIGINT, {int(low)}::BIGINT, {int(high)}::BIGINT)"
        for chat, low, high in spans
    )
    return (
        f"SELECT EXISTS (SELECT 1 FROM (VALUES {values}) r (chat_id, low, high) "
        "JOIN messages m ON m.chat_id = r.chat_id AND m.message_id BETWEEN r.low AND r.high)"
    )
