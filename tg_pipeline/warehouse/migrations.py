"""Versioned schema migrations, applied in order when the warehouse is opened for writing.

Each migration is frozen once released: a later schema change is a new entry, never an
edit of an old one, so a warehouse file written by any earlier version upgrades in place.
``schema_migrations`` records what a file has; a read-only open refuses a file that is
behind (it cannot upgrade it) or ahead (this code does not know its tables).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tg_pipeline.errors import TgPipelineError
from tg_pipeline.warehouse import chat_stats

if TYPE_CHECKING:
    import duckdb


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


_CORE_TABLES = (
    """
    CREATE TABLE messages (
        chat_id BIGINT NOT NULL,
        chat_name VARCHAR,
        chat_type VARCHAR,
        message_id BIGINT NOT NULL,
        kind VARCHAR NOT NULL,
        sent_at TIMESTAMPTZ NOT NULL,
        edited_at TIMESTAMPTZ,
        time_source VARCHAR NOT NULL,
        sender_id VARCHAR,
        sender_name VARCHAR,
        text VARCHAR NOT NULL,
        entities VARCHAR NOT NULL,
        reply_to_message_id BIGINT,
        forwarded_from VARCHAR,
        via_bot VARCHAR,
        author VARCHAR,
        media_type VARCHAR,
        media_path VARCHAR,
        action VARCHAR,
        actor VARCHAR,
        reactions VARCHAR,
        extra VARCHAR NOT NULL,
        source_file VARCHAR,
        source_position VARCHAR,
        sender_key VARCHAR,
        ingested_dump VARCHAR,
        updated_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (chat_id, message_id)
    )
    """,
    """
    CREATE TABLE chats (
        chat_id BIGINT PRIMARY KEY,
        name VARCHAR,
        type VARCHAR,
        is_surrogate BOOLEAN NOT NULL,
        first_seen_dump VARCHAR,
        name_seen_at TIMESTAMPTZ,
        updated_at TIMESTAMPTZ NOT NULL
    )
    """,
    """
    CREATE TABLE chat_dumps (
        chat_id BIGINT NOT NULL,
        dump_id VARCHAR NOT NULL,
        PRIMARY KEY (chat_id, dump_id)
    )
    """,
    """
    CREATE TABLE senders (
        sender_key VARCHAR PRIMARY KEY,
        sender_id VARCHAR,
        name VARCHAR,
        first_seen TIMESTAMPTZ,
        last_seen TIMESTAMPTZ,
        updated_at TIMESTAMPTZ NOT NULL
    )
    """,
    """
    CREATE TABLE sender_names (
        sender_key VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        first_seen TIMESTAMPTZ NOT NULL,
        last_seen TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (sender_key, name)
    )
    """,
    """
    CREATE TABLE dumps (
        dump_id VARCHAR PRIMARY KEY,
        fingerprint VARCHAR,
        kind VARCHAR,
        source VARCHAR,
        files VARCHAR,
        status VARCHAR NOT NULL,
        error VARCHAR,
        row_count BIGINT,
        new_count BIGINT,
        updated_count BIGINT,
        unchanged_count BIGINT,
        ingested_at TIMESTAMPTZ NOT NULL
    )
    """,
    """
    CREATE TABLE user_message_counts (
        chat_id BIGINT NOT NULL,
        sender_key VARCHAR NOT NULL,
        sender_name VARCHAR,
        message_count BIGINT NOT NULL,
        first_message_at TIMESTAMPTZ NOT NULL,
        last_message_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (chat_id, sender_key)
    )
    """,
)

_AUDIT_LOG = (
    """
    CREATE TABLE audit_log (
        event_id VARCHAR PRIMARY KEY,
        event_type VARCHAR NOT NULL,
        schema_version INTEGER,
        occurred_at TIMESTAMPTZ,
        run_id VARCHAR,
        job VARCHAR,
        dump VARCHAR,
        payload VARCHAR,
        stored_at TIMESTAMPTZ NOT NULL
    )
    """,
)

# A dump ingested at delete generation g re-applies as a no-op while the generation is
# still g (the upsert only replaces a row with a strictly better one), so it can be
# recognised by its fingerprint instead of read again. Rows from before this migration
# have no generation and are never recognised.
_DELETE_GENERATION = (
    """
    CREATE TABLE warehouse_state (
        key VARCHAR PRIMARY KEY,
        value BIGINT NOT NULL
    )
    """,
    "INSERT INTO warehouse_state VALUES ('delete_generation', 0)",
    "ALTER TABLE dumps ADD COLUMN delete_generation BIGINT",
    "ALTER TABLE dumps ADD COLUMN chat_id_given BIGINT",
    "ALTER TABLE dumps ADD COLUMN senders VARCHAR",
)

# ``messages`` rebuilt without its primary key, and with zstd for the long text columns.
#
# The key index cost time on every insert and memory per row, and the upsert never relies
# on it: it classifies each incoming row against the stored ones by key itself, so a key
# is never inserted twice, and the duplicate-key asset check watches that. DuckDB's default
# for free text (dictionary + FSST, chosen per segment after trying each method) is the
# most expensive part of an insert; plain zstd on the message text and the JSON columns
# inserts faster and makes the file smaller.
# Rows are copied in key order, the order later ingests append in.
_MESSAGES_V4 = (
    """
    CREATE TABLE messages_v4 (
        chat_id BIGINT NOT NULL,
        chat_name VARCHAR,
        chat_type VARCHAR,
        message_id BIGINT NOT NULL,
        kind VARCHAR NOT NULL,
        sent_at TIMESTAMPTZ NOT NULL,
        edited_at TIMESTAMPTZ,
        time_source VARCHAR NOT NULL,
        sender_id VARCHAR,
        sender_name VARCHAR,
        text VARCHAR NOT NULL USING COMPRESSION zstd,
        entities VARCHAR NOT NULL USING COMPRESSION zstd,
        reply_to_message_id BIGINT,
        forwarded_from VARCHAR,
        via_bot VARCHAR,
        author VARCHAR,
        media_type VARCHAR,
        media_path VARCHAR,
        action VARCHAR,
        actor VARCHAR,
        reactions VARCHAR,
        extra VARCHAR NOT NULL USING COMPRESSION zstd,
        source_file VARCHAR,
        source_position VARCHAR,
        sender_key VARCHAR,
        ingested_dump VARCHAR,
        updated_at TIMESTAMPTZ NOT NULL
    )
    """,
    "INSERT INTO messages_v4 SELECT * FROM messages ORDER BY chat_id, message_id",
    "DROP TABLE messages",
    "ALTER TABLE messages_v4 RENAME TO messages",
)

# Count changes not yet handed to the events outbox. They are written in the transaction
# that changes the counts and deleted only once the outbox holds their events, so a run
# that dies or fails in between leaves them here for the next writer to send. One row per
# sender: a newer change replaces an older one that never went out (counts are snapshots);
# the refresh deletes before it inserts, so no key index has to sit in memory beside the
# counts' own when a first ingest changes a million counts in one transaction.
# ``version`` numbers count refreshes, so a count that returns to an earlier value is a new
# event, not a repeat of the old one.
_COUNT_EVENTS_PENDING = (
    """
    CREATE TABLE count_events_pending (
        chat_id BIGINT NOT NULL,
        sender_key VARCHAR NOT NULL,
        sender_name VARCHAR,
        message_count BIGINT NOT NULL,
        first_message_at TIMESTAMPTZ NOT NULL,
        last_message_at TIMESTAMPTZ NOT NULL,
        version BIGINT NOT NULL,
        changed_at TIMESTAMPTZ NOT NULL
    )
    """,
    "INSERT INTO warehouse_state VALUES ('count_version', 0)",
)

# Per-chat counts and first/last message times, kept by every writer of ``messages``, so
# listing chats reads one row per chat (see :mod:`.chat_stats`); filled from the rows the
# warehouse holds.
_CHAT_STATS = (chat_stats.CREATE, chat_stats.FILL)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "messages, chats, senders, dumps and counts", _CORE_TABLES),
    Migration(2, "audit log", _AUDIT_LOG),
    Migration(3, "delete generation, to recognise a dump already ingested", _DELETE_GENERATION),
    Migration(4, "messages without a key index, zstd for long text", _MESSAGES_V4),
    Migration(5, "count changes waiting for the events outbox", _COUNT_EVENTS_PENDING),
    Migration(6, "per-chat summary of messages", _CHAT_STATS),
)

LATEST_VERSION = MIGRATIONS[-1].version

_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name VARCHAR NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
)
"""


def applied_versions(con: duckdb.DuckDBPyConnection) -> set[int]:
    """Versions recorded in the file; empty for a new file."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_name = 'schema_migrations' AND table_schema = 'main'"
    ).fetchall()[0]
    if not exists or not exists[0]:
        return set()
    return {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}


def apply_migrations(
    con: duckdb.DuckDBPyConnection, migrations: Sequence[Migration] = MIGRATIONS
) -> list[int]:
    """Apply every missing migration, each in its own transaction; return those applied."""
    con.execute(_LEDGER)
    have = applied_versions(con)
    known = {m.version for m in migrations}
    ahead = sorted(v for v in have if v not in known)
    if ahead:
        raise TgPipelineError(
            f"warehouse schema version {max(ahead)} is newer than this tg_pipeline "
            f"understands (latest {max(known)}); upgrade tg_pipeline to open it"
        )
    done: list[int] = []
    for migration in sorted(migrations, key=lambda m: m.version):
        if migration.version in have:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            for statement in migration.statements:
                con.execute(statement)
            con.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
                [migration.version, migration.name],
            )
            con.execute("COMMIT")
        except BaseException:
            # A failed COMMIT has rolled back already; its error is the one to report.
            with contextlib.suppress(Exception):
                con.execute("ROLLBACK")
            raise
        done.append(migration.version)
    return done


def check_readable(con: duckdb.DuckDBPyConnection, where: str) -> None:
    """A read-only connection can use the file only when it is exactly up to date."""
    have = applied_versions(con)
    if not have:
        raise TgPipelineError(f"{where} is not a tg_pipeline warehouse yet (no schema)")
    current = max(have)
    if current > LATEST_VERSION:
        raise TgPipelineError(
            f"{where} has schema version {current}, newer than this tg_pipeline "
            f"understands ({LATEST_VERSION}); upgrade tg_pipeline"
        )
    missing = [m.version for m in MIGRATIONS if m.version not in have]
    if missing:
        raise TgPipelineError(
            f"{where} has schema version {current}, older than {LATEST_VERSION}; open it "
            "for writing once (any ingest or backup) to upgrade it"
        )
