"""The SQL of the upsert's rounds, which read the round's rows as :data:`BATCH_VIEW`.

Parameters common to every statement: ``$1`` is this ingest's timestamp, ``$2`` the dump id.
"""

from __future__ import annotations

from tg_pipeline.warehouse.columns import (
    RECORD_COLUMNS,
    STORED_COLUMNS,
    edit_rank_sql,
    quality_sql,
    sender_key_sql,
)
from tg_pipeline.warehouse.dialect import DUCKDB, Dialect

#: The name the statements read a round's rows by: an Arrow table registered for the
#: round (:class:`~tg_pipeline.warehouse.arrow_slot.ArrowSlot`), or a view of the rows a
#: direct scan inserted.
BATCH_VIEW = "_tg_batch"

# $1 = this ingest's timestamp, $2 = dump id, $3/$4 = the batch's message id range (lets
# zone maps skip most of ``messages``). Only keys and sender fields are materialized; the
# apply statements read the full rows from the batch again by position (_seq). A stored
# row carrying $1 and $2 was written by an earlier batch of this same ingest: a tie then
# goes to the later occurrence ("dup").
CLASSIFY = f"""
CREATE OR REPLACE TEMP TABLE _tg_cls AS
WITH s AS (
    SELECT b._seq, b.chat_id, b.message_id, b.sent_at, b.sender_id, b.sender_name,
           {sender_key_sql("b.")} AS sender_key,
           {edit_rank_sql("b.")} AS _e,
           {quality_sql("b.")} AS _q,
           count(*) OVER (PARTITION BY b.chat_id, b.message_id) AS _n
    FROM {BATCH_VIEW} b
    QUALIFY row_number() OVER (
        PARTITION BY b.chat_id, b.message_id ORDER BY _e DESC, _q DESC, b._seq DESC) = 1
), m AS (
    SELECT chat_id, message_id, sender_key, sender_id, sender_name, updated_at,
           ingested_dump, {edit_rank_sql()} AS _e, {quality_sql()} AS _q
    FROM messages WHERE message_id BETWEEN $3 AND $4
), c AS (
    SELECT s.* EXCLUDE (_e, _q), m.sender_key AS _old_key, m.sender_name AS _old_name,
        -- occurrences of the key in this dump before this one: earlier in the round, and
        -- the row an earlier round of this ingest wrote
        _n - 1 + CASE WHEN m.updated_at = $1 AND m.ingested_dump = $2 THEN 1 ELSE 0 END
            AS _repeats,
        CASE
            WHEN m.message_id IS NULL THEN 'new'
            WHEN m.updated_at = $1 AND m.ingested_dump = $2
                 AND (s._e, s._q) >= (m._e, m._q) THEN 'dup'
            WHEN (s._e, s._q) > (m._e, m._q) THEN 'updated'
            WHEN s.sender_id IS NULL AND s.sender_name IS NOT NULL AND m.sender_id IS NOT NULL
                 AND s.sender_name IS DISTINCT FROM m.sender_name THEN 'alias'
            ELSE 'unchanged'
        END AS _op
    FROM s LEFT JOIN m ON m.chat_id = s.chat_id AND m.message_id = s.message_id
)
SELECT * FROM c WHERE _op <> 'unchanged' OR _repeats > 0
"""

# Where a key this round repeats was met before in the dump: in the round itself (its
# earlier occurrences) or in a row an earlier round of this ingest wrote ($1, $2).
REPEATED_AT = f"""
SELECT source_file, source_position FROM (
    SELECT source_file, source_position, _seq AS _at FROM {BATCH_VIEW}
    WHERE chat_id = $3 AND message_id = $4
    UNION ALL
    SELECT source_file, source_position, -1 FROM messages
    WHERE chat_id = $3 AND message_id = $4 AND updated_at = $1 AND ingested_dump = $2
) places ORDER BY _at
"""

UPDATE = (
    "UPDATE messages SET "
    + ", ".join(f"{c} = b.{c}" for c in RECORD_COLUMNS if c not in ("chat_id", "message_id"))
    + ", sender_key = c.sender_key, ingested_dump = $2, updated_at = $1 "
    f"FROM _tg_cls c JOIN {BATCH_VIEW} b ON b._seq = c._seq "
    "WHERE c._op IN ('updated', 'dup') "
    "AND messages.chat_id = c.chat_id AND messages.message_id = c.message_id"
)

INSERT = (
    f"INSERT INTO messages ({', '.join(STORED_COLUMNS)}) "
    f"SELECT {', '.join('b.' + c for c in RECORD_COLUMNS)}, c.sender_key, $2, $1 "
    f"FROM {BATCH_VIEW} b JOIN _tg_cls c ON b._seq = c._seq AND c._op = 'new'"
)

# The common case of a first load: every row of the batch is new and its keys distinct,
# so the rows go in straight from the batch, without joining the classification back.
INSERT_ALL = (
    f"INSERT INTO messages ({', '.join(STORED_COLUMNS)}) "
    f"SELECT {', '.join('b.' + c for c in RECORD_COLUMNS)}, {sender_key_sql('b.')}, $2, $1 "
    f"FROM {BATCH_VIEW} b"
)


def names_sql(dialect: Dialect = DUCKDB) -> str:
    """Names seen per sender key, with the instants of the messages that carried them, in
    ``dialect``. An HTML row replaced by the JSON row of the same message hands its name to
    the real sender (a rename between exports), and so does an HTML row that loses to a
    stored JSON row."""
    return f"""
INSERT INTO _tg_names
SELECT sender_key, {dialect.any_value("sender_id")}, name, min(sent_at), max(sent_at) FROM (
    SELECT sender_key, sender_id, sender_name AS name, sent_at FROM _tg_cls
    WHERE _op IN ('new', 'updated', 'dup') AND sender_key IS NOT NULL
    UNION ALL
    SELECT sender_key, sender_id, _old_name, sent_at FROM _tg_cls
    WHERE _op IN ('updated', 'dup') AND sender_id IS NOT NULL
      AND _old_key LIKE 'name:%' AND _old_name IS NOT NULL
    UNION ALL
    SELECT _old_key, NULL, sender_name, sent_at FROM _tg_cls WHERE _op = 'alias'
) n GROUP BY sender_key, name
"""


NAMES = names_sql()

# The same names when every row of the round is new and its keys distinct (see
# Upsert.all_new): straight from the batch, without a classification to read them from.
NAMES_ALL_NEW = f"""
INSERT INTO _tg_names
SELECT sender_key, any_value(sender_id), sender_name, min(sent_at), max(sent_at) FROM (
    SELECT {sender_key_sql("b.")} AS sender_key, b.sender_id, b.sender_name, b.sent_at
    FROM {BATCH_VIEW} b
) WHERE sender_key IS NOT NULL GROUP BY sender_key, sender_name
"""

# Whether any stored row could share a key with a round whose keys run strictly upwards
# from ($1, $3) to ($2, $4): such a row lies between them in key order, and its message id
# within the round's ($5, $6).
STORED_IN_RANGE = """
SELECT count(*) FROM messages
WHERE chat_id BETWEEN $1 AND $2 AND message_id BETWEEN $5 AND $6
  AND (chat_id, message_id) >= ($1, $3) AND (chat_id, message_id) <= ($2, $4)
"""

ORPHANS = """
INSERT INTO _tg_orphans
SELECT DISTINCT _old_key FROM _tg_cls
WHERE _op IN ('updated', 'dup') AND _old_key LIKE 'name:%' AND _old_key <> sender_key
"""

BATCH_CHATS = f"""
SELECT chat_id, arg_max(chat_name, sent_at),
       arg_max(chat_type, sent_at) FILTER (chat_type IS NOT NULL), max(sent_at)
FROM {BATCH_VIEW} GROUP BY chat_id
"""

BATCH_SENDERS = (
    f"SELECT DISTINCT k FROM (SELECT {sender_key_sql()} AS k FROM {BATCH_VIEW}) WHERE k IS NOT NULL"
)
