"""Where the pipeline keeps its files and how it reads and backs them up.

Every asset, check, op and sensor takes its paths from this one resource, so the UI's
resource page shows the whole configuration in one place, and an environment variable
changes it for every process (webserver, daemon, code server, `dagster job execute`).
"""

from __future__ import annotations

import os
from typing import Any

import dagster as dg
from pydantic import Field

from tg_pipeline.ingest import DataPaths
from tg_pipeline.records import ReadOptions


class PipelineSettings(dg.ConfigurableResource):
    """Paths under the data directory plus the reading and backup knobs.

    Paths left empty are derived from `data_dir`, so pointing `TG_DATA_DIR` somewhere
    else moves the warehouse, the inbox and everything around them together.
    """

    data_dir: str = Field(
        default="data",
        description="Root of everything the pipeline writes (env TG_DATA_DIR).",
    )
    warehouse_path: str = Field(
        default="",
        description="DuckDB warehouse file; empty means <data_dir>/warehouse.duckdb "
        "(env TG_WAREHOUSE_PATH).",
    )
    inbox_dir: str = Field(
        default="",
        description="Drop folder the sensor watches; empty means <data_dir>/inbox "
        "(env TG_INBOX_DIR).",
    )
    processed_dir: str = Field(
        default="", description="Where ingested inbox entries go; empty means <data_dir>/processed."
    )
    quarantine_dir: str = Field(
        default="",
        description="Where unreadable dumps go with an error report; empty means "
        "<data_dir>/quarantine.",
    )
    raw_dir: str = Field(
        default="",
        description="Immutable copies of each dump's text files; empty means <data_dir>/raw.",
    )
    backups_dir: str = Field(
        default="", description="Parquet and CSV backups; empty means <data_dir>/backups."
    )
    default_zone: str = Field(
        default="UTC",
        description="Zone for export times that carry no UTC offset, i.e. exports made "
        "before 2022 (env TG_DEFAULT_ZONE).",
    )
    backup_row_group_size: int = Field(
        default=100_000,
        description="Rows per Parquet row group (env TG_BACKUP_ROW_GROUP_SIZE).",
    )
    backup_keep_last: int = Field(
        default=10,
        description="How many backups of each format to keep (env TG_BACKUP_KEEP_LAST).",
    )
    settle_seconds: float = Field(
        default=3.0,
        description="How long an inbox entry must stay unchanged before the sensor takes it "
        "(env TG_SETTLE_SECONDS).",
    )

    def paths(self) -> DataPaths:
        """The resolved directory layout; nothing is created on disk."""
        return DataPaths.under(
            self.data_dir,
            warehouse=self.warehouse_path or None,
            inbox=self.inbox_dir or None,
            processed=self.processed_dir or None,
            quarantine=self.quarantine_dir or None,
            raw=self.raw_dir or None,
            backups=self.backups_dir or None,
        )

    def read_options(self, chat_id: int | None = None) -> ReadOptions:
        return ReadOptions(default_zone=self.default_zone, chat_id=chat_id)


#: Environment variable for each setting an operator is expected to change.
SETTINGS_ENV: dict[str, str] = {
    "data_dir": "TG_DATA_DIR",
    "warehouse_path": "TG_WAREHOUSE_PATH",
    "inbox_dir": "TG_INBOX_DIR",
    "default_zone": "TG_DEFAULT_ZONE",
    "backup_row_group_size": "TG_BACKUP_ROW_GROUP_SIZE",
    "backup_keep_last": "TG_BACKUP_KEEP_LAST",
    "settle_seconds": "TG_SETTLE_SECONDS",
}

_INT_SETTINGS = frozenset({"backup_row_group_size", "backup_keep_last"})


def settings_from_env(environ: dict[str, str] | None = None) -> PipelineSettings:
    """Settings with an ``EnvVar`` for each variable that is set and the default otherwise.

    An ``EnvVar`` that is not set fails at run time, so only set variables become
    ``EnvVar``s: a bare machine runs on the defaults, and the UI still shows which values
    come from the environment.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for field, var in SETTINGS_ENV.items():
        if env.get(var, "") == "":
            continue
        if field in _INT_SETTINGS:
            values[field] = dg.EnvVar.int(var)
        elif field == "settle_seconds":
            values[field] = float(env[var])
        else:
            values[field] = dg.EnvVar(var)
    return PipelineSettings(**values)
