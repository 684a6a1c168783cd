"""The PostgreSQL warehouse: the same schema, upsert semantics, counts and queries as the
DuckDB one, for a warehouse shared by several writers and readers.

It imports what the DuckDB warehouse shares (columns, dialect, identity, ledger, counts,
sender names, backups) and the ADBC PostgreSQL driver; never Dagster or events.
"""

from __future__ import annotations

from tg_pipeline.warehouse.pg.warehouse import PgWarehouse

__all__ = ["PgWarehouse"]
