"""Checks that read the warehouse after a write: keys, reply targets, counts, backups.

They take the warehouse pool like the writers do, because DuckDB refuses even a read-only
open while another process writes. They also require ``warehouse_guard``: their run holds the
warehouse from its first step to its last check, so a check sees exactly what its own run
wrote, never another run's write made in between.
"""

from pathlib import Path

import dagster as dg

from tg_pipeline.defs.names import WAREHOUSE_POOL
from tg_pipeline.defs.shared.guard import GuardParam
from tg_pipeline.defs.shared.settings import PipelineSettings
from tg_pipeline.defs.telegram.assets.backups import (
    BACKUP_ASSETS,
    latest_backup_path,
)
from tg_pipeline.defs.telegram.assets.counts import user_message_counts
from tg_pipeline.defs.telegram.assets.messages import messages
from tg_pipeline.warehouse import BackupCheck


@dg.asset_check(
    asset=messages,
    pool=WAREHOUSE_POOL,
    blocking=True,
    description="No two rows of `messages` share a (chat_id, message_id) key.",
)
def messages_unique_keys(
    settings: PipelineSettings, warehouse_guard: GuardParam
) -> dg.AssetCheckResult:
    with settings.warehouse().open(read_only=True) as warehouse:
        duplicates = warehouse.duplicate_keys()
    return dg.AssetCheckResult(
        passed=duplicates == 0,
        metadata={"duplicate_keys": duplicates},
        description=None if duplicates == 0 else f"{duplicates} duplicated key(s)",
    )


@dg.asset_check(
    asset=messages,
    pool=WAREHOUSE_POOL,
    description=(
        "Replies whose target message is not in the warehouse. Exports often start after "
        "the message replied to, so this is a warning to read, not a failure."
    ),
)
def messages_reply_targets(
    settings: PipelineSettings, warehouse_guard: GuardParam
) -> dg.AssetCheckResult:
    with settings.warehouse().open(read_only=True) as warehouse:
        missing = warehouse.missing_reply_targets()
    return dg.AssetCheckResult(
        passed=missing == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"missing_reply_targets": missing},
        description=None if missing == 0 else f"{missing} reply target(s) not in the warehouse",
    )


@dg.asset_check(
    asset=user_message_counts,
    pool=WAREHOUSE_POOL,
    blocking=True,
    description="Every count equals a fresh GROUP BY over `messages` (kind = 'message').",
)
def user_message_counts_match_messages(
    settings: PipelineSettings, warehouse_guard: GuardParam
) -> dg.AssetCheckResult:
    with settings.warehouse().open(read_only=True) as warehouse:
        mismatched = warehouse.counts_mismatch()
    return dg.AssetCheckResult(
        passed=mismatched == 0,
        metadata={"mismatched_rows": mismatched},
        description=None if mismatched == 0 else f"{mismatched} count row(s) differ",
    )


def _backup_check(asset: dg.AssetsDefinition, fmt: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset,
        name=f"{asset.key.path[-1]}_verified",
        pool=WAREHOUSE_POOL,
        blocking=True,
        description=(
            f"The latest {fmt} backup matches its manifest (row count and checksum) and "
            "reads back equal to the `messages` table."
        ),
    )
    def check(
        context: dg.AssetCheckExecutionContext,
        settings: PipelineSettings,
        warehouse_guard: GuardParam,
    ) -> dg.AssetCheckResult:
        path = latest_backup_path(context.instance, asset.key, settings.paths().backups, fmt)
        if path is None or not Path(path).exists():
            return dg.AssetCheckResult(
                passed=False, description=f"no {fmt} backup found", metadata={"path": str(path)}
            )
        with settings.warehouse().open(read_only=True) as warehouse:
            result = warehouse.verify_backup(Path(path))
        return backup_check_result(result, Path(path))

    return check


def backup_check_result(result: BackupCheck, path: Path) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=result.ok,
        description=result.detail,
        metadata={"path": dg.MetadataValue.path(str(path)), "rows": result.rows},
    )


BACKUP_CHECKS = [_backup_check(asset, fmt) for asset, fmt in BACKUP_ASSETS]

CHECKS = [
    messages_unique_keys,
    messages_reply_targets,
    user_message_counts_match_messages,
    *BACKUP_CHECKS,
]
