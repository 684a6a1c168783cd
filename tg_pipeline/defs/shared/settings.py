"""Where the pipeline keeps its files and how it reads and backs them up.

Every asset, check, op and sensor takes its paths from this one resource, so the UI's
resource page shows the whole configuration in one place, and an environment variable
changes it for every process (webserver, daemon, code server, `dagster job execute`).
Values and defaults come from :mod:`tg_pipeline.config`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
from pydantic import Field

from tg_pipeline.config import SETTINGS_ENV, Settings
from tg_pipeline.ingest import DataPaths
from tg_pipeline.records import ReadOptions
from tg_pipeline.warehouse.backend import WarehouseTarget

_DEFAULTS = Settings()


class PipelineSettings(dg.ConfigurableResource):
    """Paths under the data directory plus the reading and backup knobs.

    Paths left empty are derived from `data_dir`, so pointing `TG_DATA_DIR` somewhere
    else moves the warehouse, the inbox and everything around them together.
    """

    data_dir: str = Field(
        default=str(_DEFAULTS.data_dir),
        description="Root of everything the pipeline writes (env TG_DATA_DIR).",
    )
    warehouse_path: str = Field(
        default="",
        description="DuckDB warehouse file; empty means <data_dir>/warehouse.duckdb "
        "(env TG_WAREHOUSE_PATH).",
    )
    warehouse_url: str = Field(
        default="",
        description="A PostgreSQL warehouse, postgresql://user@host:port/db, instead of the "
        "DuckDB file; empty means DuckDB (env TG_WAREHOUSE_URL).",
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
        default=_DEFAULTS.default_zone,
        description="Zone for export times that carry no UTC offset, i.e. exports made "
        "before 2022 (env TG_DEFAULT_ZONE).",
    )
    backup_row_group_size: int = Field(
        default=_DEFAULTS.backup_row_group_size,
        description="Rows per Parquet row group (env TG_BACKUP_ROW_GROUP_SIZE).",
    )
    backup_keep_last: int = Field(
        default=_DEFAULTS.backup_keep_last,
        description="How many backups of each format to keep (env TG_BACKUP_KEEP_LAST).",
    )
    settle_seconds: float = Field(
        default=_DEFAULTS.settle_seconds,
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

    def warehouse(self) -> WarehouseTarget:
        """The warehouse: PostgreSQL at `warehouse_url` when set, else the DuckDB file."""
        return WarehouseTarget(self.paths().warehouse, self.warehouse_url or None)

    def read_options(self, chat_id: int | None = None) -> ReadOptions:
        return ReadOptions(default_zone=self.default_zone, chat_id=chat_id)


#: The fields an operator is expected to change, each named by its environment variable.
_FIELDS = (
    "data_dir",
    "warehouse_path",
    "warehouse_url",
    "inbox_dir",
    "default_zone",
    "backup_row_group_size",
    "backup_keep_last",
    "settle_seconds",
)
_INT_SETTINGS = frozenset({"backup_row_group_size", "backup_keep_last"})


def pipeline_settings(settings: Settings) -> PipelineSettings:
    """The resource for ``settings``: an ``EnvVar`` for each variable that was set, the value
    itself for a setting given otherwise (``--data-dir``), the default for the rest.

    An ``EnvVar`` that is not set fails at run time, so only set variables become
    ``EnvVar``s: a bare machine runs on the defaults, and the UI still shows which values
    come from the environment.
    """
    values: dict[str, Any] = {}
    for field in _FIELDS:
        var = SETTINGS_ENV[field]
        value = getattr(settings, field)
        if field == "settle_seconds":
            if value != _DEFAULTS.settle_seconds:
                values[field] = value  # Dagster has no float EnvVar
        elif var in settings.given:
            values[field] = dg.EnvVar.int(var) if field in _INT_SETTINGS else dg.EnvVar(var)
        elif value != getattr(_DEFAULTS, field) and value is not None:
            values[field] = value if field in _INT_SETTINGS else str(value)
    return PipelineSettings(**values)


def settings_from_env(environ: Mapping[str, str] | None = None) -> PipelineSettings:
    """:func:`pipeline_settings` of the settings in ``environ`` (default: this process's)."""
    return pipeline_settings(Settings.from_env(environ))
