"""The warehouse's versioned migrations on PostgreSQL.

They are the DuckDB migrations (:data:`tg_pipeline.warehouse.migrations.MIGRATIONS`),
version for version, with the DuckDB-only steps replaced here: so both backends report
the same schema version for the same tables. Concurrent writers opening a new database
take turns through an advisory lock, so a migration is applied once.
"""

from __future__ import annotations

from tg_pipeline.errors import TgPipelineError
from tg_pipeline.warehouse.migrations import LATEST_VERSION, MIGRATIONS, Migration
from tg_pipeline.warehouse.pg.session import PgSession

#: Version 4 rebuilt DuckDB's ``messages`` without its key index and with zstd text. On
#: PostgreSQL the key index stays: the upsert joins on it and readers look rows up by it.
_REPLACED: dict[int, tuple[str, ...]] = {4: ()}

PG_MIGRATIONS: tuple[Migration, ...] = tuple(
    Migration(m.version, m.name, _REPLACED.get(m.version, m.statements)) for m in MIGRATIONS
)

_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name VARCHAR NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
)
"""

#: Advisory lock key held while migrating (any constant unique to tg_pipeline).
_MIGRATION_LOCK = 0x7467_5F6D_6967


def applied_versions(session: PgSession) -> set[int]:
    exists = session.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return set()
    return {int(v) for (v,) in session.execute("SELECT version FROM schema_migrations").fetchall()}


def apply_migrations(session: PgSession) -> list[int]:
    """Apply every missing migration in one transaction; return those applied."""
    try:
        session.execute("SELECT pg_advisory_xact_lock(?)", [_MIGRATION_LOCK])
        session.execute(_LEDGER)
        have = applied_versions(session)
        ahead = sorted(v for v in have if v > LATEST_VERSION)
        if ahead:
            raise TgPipelineError(
                f"warehouse schema version {max(ahead)} is newer than this tg_pipeline "
                f"understands (latest {LATEST_VERSION}); upgrade tg_pipeline to open it"
            )
        done: list[int] = []
        for migration in PG_MIGRATIONS:
            if migration.version in have:
                continue
            for statement in migration.statements:
                session.execute(statement)
            session.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
                [migration.version, migration.name],
            )
            done.append(migration.version)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return done


def check_readable(session: PgSession, where: str) -> None:
    """A reader can use the database only when it is exactly up to date."""
    have = applied_versions(session)
    if not have:
        raise TgPipelineError(f"{where} is not a tg_pipeline warehouse yet (no schema)")
    if max(have) != LATEST_VERSION or len(have) != len(PG_MIGRATIONS):
        raise TgPipelineError(
            f"{where} has schema version {max(have)}, this tg_pipeline expects "
            f"{LATEST_VERSION}; open it for writing once (any ingest) to upgrade it"
        )
