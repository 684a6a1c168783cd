"""Backups of ``messages``: one Parquet and one CSV file per backup, each with a manifest."""

from pathlib import Path
from typing import Any

import dagster as dg

from tg_pipeline.defs.names import BACKUP_ASSETS as BACKUP_ASSET_NAMES
from tg_pipeline.defs.names import OWNERS, TELEGRAM_GROUP, WAREHOUSE_POOL, Meta
from tg_pipeline.defs.shared.context import owner_of
from tg_pipeline.defs.shared.guard import GuardParam
from tg_pipeline.defs.shared.settings import PipelineSettings
from tg_pipeline.defs.telegram.assets.messages import messages
from tg_pipeline.warehouse import BackupFile

_SUFFIXES = {"parquet": (".parquet",), "csv": (".csv", ".csv.gz")}


def _backup_asset(fmt: str, kinds: set[str], about: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=BACKUP_ASSET_NAMES[fmt],
        deps=[messages],
        group_name=TELEGRAM_GROUP,
        kinds=kinds,
        owners=OWNERS,
        pool=WAREHOUSE_POOL,
        description=(
            f"A {about} backup of the whole `messages` table in `data/backups/`, rows in key "
            "order, written under a temporary name and renamed into place, with a manifest "
            "(row count, checksum, schema version) beside it. Names never repeat; the last "
            "`backup_keep_last` backups are kept. Dropping the file into the inbox restores "
            "it through the same upsert as any dump."
        ),
    )
    def backup_asset(
        context: dg.AssetExecutionContext, settings: PipelineSettings, warehouse_guard: GuardParam
    ) -> dg.MaterializeResult:
        paths = settings.paths().ensure()
        with settings.warehouse().open(owner=owner_of(context)) as warehouse:
            backup = warehouse.backup(
                paths.backups,
                fmt=fmt,
                row_group_size=settings.backup_row_group_size,
                keep_last=settings.backup_keep_last,
            )
        context.log.info(f"{fmt} backup of {backup.rows} rows at {backup.path}")
        return dg.MaterializeResult(metadata=backup_metadata(backup))

    return backup_asset


def backup_metadata(backup: BackupFile) -> dict[str, Any]:
    return {
        Meta.PATH: dg.MetadataValue.path(str(backup.path)),
        "manifest": dg.MetadataValue.path(str(backup.manifest_path)),
        "bytes": backup.bytes,
        Meta.ROW_COUNT: backup.rows,
        "sha256": backup.sha256,
        "format": backup.fmt,
    }


messages_backup_parquet = _backup_asset(
    "parquet", {"parquet"}, "zstd Parquet (row groups of `backup_row_group_size` rows)"
)
messages_backup_csv = _backup_asset("csv", {"csv"}, "CSV (RFC 4180, UTF-8, header)")

BACKUP_ASSETS: list[tuple[dg.AssetsDefinition, str]] = [
    (messages_backup_parquet, "parquet"),
    (messages_backup_csv, "csv"),
]


def latest_backup_path(
    instance: dg.DagsterInstance, key: dg.AssetKey, backups_dir: Path, fmt: str
) -> Path | None:
    """The file the asset's latest materialization wrote, else the newest of that format."""
    event = instance.get_latest_materialization_event(key)
    materialization = event.asset_materialization if event else None
    if materialization is not None:
        value = materialization.metadata.get(Meta.PATH)
        if value is not None:
            return Path(str(value.value))
    if not backups_dir.is_dir():
        return None
    files = [
        p
        for p in backups_dir.iterdir()
        if p.is_file() and p.name.endswith(_SUFFIXES[fmt]) and not p.name.startswith(".")
    ]
    return max(files, key=lambda p: p.stat().st_mtime_ns, default=None)
