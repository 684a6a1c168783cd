"""Running the real pipeline in tests: settings under tmp_path, real instance, a real
warehouse (the DuckDB file, or PostgreSQL when the settings give ``warehouse_url``)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import dagster as dg

from tg_pipeline.definitions import make_definitions
from tg_pipeline.defs.names import BACKUP_JOB, DUMPS, INGEST_JOB, ingest_run_config
from tg_pipeline.defs.shared.settings import PipelineSettings
from tg_pipeline.ingest import DataPaths, dump_id_for
from tg_pipeline.readers import fingerprint_dump
from tg_pipeline.warehouse.backend import WarehouseTarget

#: Tables whose content is "the warehouse data"; the audit log and migrations are bookkeeping.
BOOKKEEPING_TABLES = frozenset({"audit_log", "schema_migrations", "count_events_pending"})


def make_settings(data_dir: Path, **overrides: Any) -> PipelineSettings:
    values: dict[str, Any] = {"data_dir": str(data_dir), "settle_seconds": 0.0}
    values.update(overrides)
    return PipelineSettings(**values)


def definitions_for(settings: PipelineSettings) -> dg.Definitions:
    return make_definitions({"settings": settings})


def dump_id_of(source: Path) -> str:
    return dump_id_for(source.name, fingerprint_dump(source))


def ingest(
    instance: dg.DagsterInstance,
    defs: dg.Definitions,
    source: Path,
    *,
    raise_on_error: bool = True,
    chat_id: int | None = None,
) -> dg.ExecuteInProcessResult:
    """What the sensor does for one dump: register its partition, run ingest_job on it."""
    dump_id = dump_id_of(source)
    instance.add_dynamic_partitions(DUMPS, [dump_id])
    return defs.resolve_job_def(INGEST_JOB).execute_in_process(
        instance=instance,
        partition_key=dump_id,
        run_config=ingest_run_config(str(source), chat_id),
        raise_on_error=raise_on_error,
    )


def backup(instance: dg.DagsterInstance, defs: dg.Definitions) -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def(BACKUP_JOB).execute_in_process(instance=instance)


def materialization_metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, Any]:
    """The metadata values of the run's materialization of ``asset``, as plain values."""
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization  # type: ignore[union-attr]
        if mat.asset_key.to_user_string() == asset:
            return {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
    raise AssertionError(f"no materialization of {asset} in run {result.run_id}")


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def _target(where: DataPaths | WarehouseTarget) -> WarehouseTarget:
    return where if isinstance(where, WarehouseTarget) else WarehouseTarget(where.warehouse)


def rows(where: DataPaths | WarehouseTarget, *queries: str) -> list[tuple[Any, ...]]:
    """The rows of the queries, one after another, in the warehouse of ``where`` (a data
    directory's DuckDB file, or the settings' :class:`WarehouseTarget` on either backend),
    read-only."""
    with _target(where).open(read_only=True) as warehouse:
        con = warehouse.sql_con  # type: ignore[attr-defined]  # both backends have one
        return [tuple(row) for sql in queries for row in con.execute(sql).fetchall()]


def snapshot(where: DataPaths | WarehouseTarget) -> dict[str, list[tuple[Any, ...]]]:
    """Every data table's rows in a fixed order: equal snapshots mean equal warehouses."""
    with _target(where).open(read_only=True) as warehouse:
        con = warehouse.sql_con  # type: ignore[attr-defined]
        tables = con.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1"
        ).fetchall()
        return {
            t: sorted((tuple(r) for r in con.execute(f'SELECT * FROM "{t}"').fetchall()), key=repr)
            for (t,) in tables
            if t not in BOOKKEEPING_TABLES
        }


def scalar(where: DataPaths | WarehouseTarget, sql: str) -> Any:
    return rows(where, sql)[0][0]


def drop(source: Path, inbox: Path, name: str | None = None) -> Path:
    """Copy a dump into the inbox as a user would (folders whole, files as they are)."""
    inbox.mkdir(parents=True, exist_ok=True)
    target = inbox / (name or source.name)
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copyfile(source, target)
    return target
