"""The PostgreSQL spellings of the upsert's statements that DuckDB writes differently.

The dump is staged whole as :data:`~tg_pipeline.warehouse.round_sql.BATCH_VIEW` and
classified in one pass, so the statements that apply a classification (UPDATE, INSERT,
orphaned names) are the DuckDB ones, unchanged (:mod:`.upsert`). Only these differ:
DuckDB's QUALIFY, arg_max and subqueries without an alias.
"""

from __future__ import annotations

from tg_pipeline.warehouse.columns import edit_rank_sql, quality_sql, sender_key_sql
from tg_pipeline.warehouse.dialect import POSTGRES
from tg_pipeline.warehouse.round_sql import BATCH_VIEW

# The best version of each key in the dump (newest edit, then quality, then the later
# occurrence), against the stored row. Same verdicts as the DuckDB CLASSIFY, without its
# "dup" case: a whole dump is classified at once, so no earlier round wrote a key.
CLASSIFY = f"""
CREATE TEMP TABLE _tg_cls AS
WITH s AS (
    SELECT * FROM (
        SELECT b._seq, b.chat_id, b.message_id, b.sent_at, b.sender_id, b.sender_name,
               {sender_key_sql("b.")} AS sender_key,
               {edit_rank_sql("b.")} AS _e, {quality_sql("b.")} AS _q,
               count(*) OVER (PARTITION BY b.chat_id, b.message_id) AS _n,
               row_number() OVER (
                   PARTITION BY b.chat_id, b.message_id
                   ORDER BY {edit_rank_sql("b.")} DESC, {quality_sql("b.")} DESC, b._seq DESC
               ) AS _rn
        FROM {BATCH_VIEW} b
    ) ranked WHERE _rn = 1
)
SELECT s._seq, s.chat_id, s.message_id, s.sent_at, s.sender_id, s.sender_name,
       s.sender_key, m.sender_key AS _old_key, m.sender_name AS _old_name,
       s._n - 1 AS _repeats,
       CASE
           WHEN m.message_id IS NULL THEN 'new'
           WHEN (s._e, s._q) > ({edit_rank_sql("m.")}, {quality_sql("m.")}) THEN 'updated'
           WHEN s.sender_id IS NULL AND s.sender_name IS NOT NULL AND m.sender_id IS NOT NULL
                AND s.sender_name IS DISTINCT FROM m.sender_name THEN 'alias'
           ELSE 'unchanged'
       END AS _op
FROM s LEFT JOIN messages m ON m.chat_id = s.chat_id AND m.message_id = s.message_id
"""

BATCH_CHATS = f"""
SELECT chat_id, {POSTGRES.arg_max("chat_name", "sent_at")},
       {POSTGRES.arg_max("chat_type", "sent_at")}, max(sent_at)
FROM {BATCH_VIEW} GROUP BY chat_id
"""

BATCH_SENDERS = (
    f"SELECT DISTINCT k FROM (SELECT {sender_key_sql()} AS k FROM {BATCH_VIEW}) s "
    "WHERE k IS NOT NULL"
)

REPEATED_AT = f"""
SELECT source_file, source_position FROM {BATCH_VIEW}
WHERE chat_id = $1 AND message_id = $2 ORDER BY _seq
"""
