"""Sender names during an upsert: the names each sender key was seen with, and when.

A round adds what it saw to the temp table ``_tg_names`` (and name keys whose messages
moved to a real sender to ``_tg_orphans``); :func:`merge_senders` folds them into
``sender_names`` and ``senders`` once, at the end of the dump.
"""

from __future__ import annotations

from datetime import datetime

from tg_pipeline.warehouse.dialect import DUCKDB, Dialect, SqlCon


def start_sender_names(con: SqlCon, dialect: Dialect = DUCKDB) -> None:
    """Create the temp tables a dump's rounds collect names and orphaned keys in."""
    if dialect.postgres:
        drop_sender_names(con)
        create = "CREATE TEMP TABLE"
    else:
        create = "CREATE OR REPLACE TEMP TABLE"
    con.execute(
        f"{create} _tg_names (sender_key VARCHAR, sender_id VARCHAR, "
        "name VARCHAR, first_seen TIMESTAMPTZ, last_seen TIMESTAMPTZ)"
    )
    con.execute(f"{create} _tg_orphans (sender_key VARCHAR)")


def merge_senders(con: SqlCon, now: datetime, dialect: Dialect = DUCKDB) -> None:
    """Fold the names collected in ``_tg_names`` into ``sender_names`` and ``senders``, and
    drop the name keys (``_tg_orphans``) that no message carries any more."""
    if not con.execute("SELECT count(*) FROM _tg_names").fetchall()[0][0]:
        return
    for statement in dialect.temp_table_as(
        "_tg_names_agg",
        f"""
        SELECT sender_key, name, {dialect.any_value("sender_id")} AS sender_id,
               min(first_seen) AS first_seen, max(last_seen) AS last_seen
        FROM _tg_names GROUP BY sender_key, name
        """,
    ):
        con.execute(statement)
    con.execute(
        f"""
        INSERT INTO sender_names
        SELECT sender_key, name, first_seen, last_seen FROM _tg_names_agg
        WHERE name IS NOT NULL{dialect.lock_order("sender_key, name")}
        ON CONFLICT (sender_key, name) DO UPDATE SET
            first_seen = least(sender_names.first_seen, excluded.first_seen),
            last_seen = greatest(sender_names.last_seen, excluded.last_seen)
        WHERE excluded.first_seen < sender_names.first_seen
           OR excluded.last_seen > sender_names.last_seen
        """
    )
    con.execute(
        f"""
        INSERT INTO senders
        WITH k AS (
            SELECT sender_key, {dialect.any_value("sender_id")} AS sender_id,
                   min(first_seen) AS first_seen, max(last_seen) AS last_seen
            FROM _tg_names_agg GROUP BY sender_key
        ), cur AS (
            SELECT sender_key, {dialect.arg_max("sender_name", "sent_at", "message_id")} AS name
            FROM messages WHERE sender_key IN (SELECT sender_key FROM k)
            GROUP BY sender_key
        )
        SELECT k.sender_key, k.sender_id, cur.name, k.first_seen, k.last_seen, $1
        FROM k LEFT JOIN cur USING (sender_key){dialect.lock_order("k.sender_key")}
        ON CONFLICT (sender_key) DO UPDATE SET
            sender_id = coalesce(excluded.sender_id, senders.sender_id),
            name = coalesce(excluded.name, senders.name),
            first_seen = least(senders.first_seen, excluded.first_seen),
            last_seen = greatest(senders.last_seen, excluded.last_seen),
            updated_at = excluded.updated_at
        WHERE senders.sender_id IS DISTINCT FROM coalesce(excluded.sender_id, senders.sender_id)
           OR senders.name IS DISTINCT FROM coalesce(excluded.name, senders.name)
           OR excluded.first_seen < senders.first_seen
           OR excluded.last_seen > senders.last_seen
        """,
        [now],
    )
    for statement in dialect.temp_table_as(
        "_tg_gone",
        """
        SELECT DISTINCT sender_key FROM _tg_orphans
        WHERE sender_key NOT IN (
            SELECT sender_key FROM messages
            WHERE sender_key IN (SELECT sender_key FROM _tg_orphans))
        """,
    ):
        con.execute(statement)
    con.execute("DELETE FROM sender_names WHERE sender_key IN (SELECT sender_key FROM _tg_gone)")
    con.execute("DELETE FROM senders WHERE sender_key IN (SELECT sender_key FROM _tg_gone)")
    con.execute("DROP TABLE _tg_gone")
    con.execute("DROP TABLE _tg_names_agg")


def drop_sender_names(con: SqlCon) -> None:
    con.execute("DROP TABLE IF EXISTS _tg_names")
    con.execute("DROP TABLE IF EXISTS _tg_orphans")
