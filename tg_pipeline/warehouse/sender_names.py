"""Sender names during an upsert: the names each sender key was seen with, and when.

A round adds what it saw to the temp table ``_tg_names`` (and name keys whose messages
moved to a real sender to ``_tg_orphans``); :func:`merge_senders` folds them into
``sender_names`` and ``senders`` once, at the end of the dump.
"""

from __future__ import annotations

from datetime import datetime

import duckdb


def start_sender_names(con: duckdb.DuckDBPyConnection) -> None:
    """Create the temp tables a dump's rounds collect names and orphaned keys in."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _tg_names (sender_key VARCHAR, sender_id VARCHAR, "
        "name VARCHAR, first_seen TIMESTAMPTZ, last_seen TIMESTAMPTZ)"
    )
    con.execute("CREATE OR REPLACE TEMP TABLE _tg_orphans (sender_key VARCHAR)")


def merge_senders(con: duckdb.DuckDBPyConnection, now: datetime) -> None:
    """Fold the names collected in ``_tg_names`` into ``sender_names`` and ``senders``, and
    drop the name keys (``_tg_orphans``) that no message carries any more."""
    if not con.execute("SELECT count(*) FROM _tg_names").fetchall()[0][0]:
        return
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _tg_names_agg AS
        SELECT sender_key, name, any_value(sender_id) AS sender_id,
               min(first_seen) AS first_seen, max(last_seen) AS last_seen
        FROM _tg_names GROUP BY sender_key, name
        """
    )
    con.execute(
        """
        INSERT INTO sender_names
        SELECT sender_key, name, first_seen, last_seen FROM _tg_names_agg
        WHERE name IS NOT NULL
        ON CONFLICT (sender_key, name) DO UPDATE SET
            first_seen = least(sender_names.first_seen, excluded.first_seen),
            last_seen = greatest(sender_names.last_seen, excluded.last_seen)
        WHERE excluded.first_seen < sender_names.first_seen
           OR excluded.last_seen > sender_names.last_seen
        """
    )
    con.execute(
        """
        INSERT INTO senders
        WITH k AS (
            SELECT sender_key, any_value(sender_id) AS sender_id,
                   min(first_seen) AS first_seen, max(last_seen) AS last_seen
            FROM _tg_names_agg GROUP BY sender_key
        ), cur AS (
            SELECT sender_key, arg_max(sender_name, (sent_at, message_id)) AS name
            FROM messages WHERE sender_key IN (SELECT sender_key FROM k)
            GROUP BY sender_key
        )
        SELECT k.sender_key, k.sender_id, cur.name, k.first_seen, k.last_seen, $1
        FROM k LEFT JOIN cur USING (sender_key)
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
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _tg_gone AS
        SELECT DISTINCT sender_key FROM _tg_orphans
        WHERE sender_key NOT IN (
            SELECT sender_key FROM messages
            WHERE sender_key IN (SELECT sender_key FROM _tg_orphans))
        """
    )
    con.execute("DELETE FROM sender_names WHERE sender_key IN (SELECT sender_key FROM _tg_gone)")
    con.execute("DELETE FROM senders WHERE sender_key IN (SELECT sender_key FROM _tg_gone)")
    con.execute("DROP TABLE _tg_gone")
    con.execute("DROP TABLE _tg_names_agg")


def drop_sender_names(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("DROP TABLE IF EXISTS _tg_names")
    con.execute("DROP TABLE IF EXISTS _tg_orphans")
