"""The whole Definitions loads, and what the UI shows about it is what an operator expects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef

from tg_pipeline.definitions import defs
from tg_pipeline.defs import names
from tg_pipeline.defs.names import DUMPS
from tg_pipeline.defs.shared.settings import PipelineSettings, settings_from_env

REPO_ROOT = Path(__file__).resolve().parents[1]
TELEGRAM_ASSETS = {
    "raw_dump",
    "messages",
    "user_message_counts",
    "messages_backup_parquet",
    "messages_backup_csv",
}
WAREHOUSE_ASSETS = TELEGRAM_ASSETS - {"raw_dump"}


def test_definitions_are_loadable() -> None:
    dg.Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()
    assert {"ingest_job", "backup_job", "ingest_inbox_job"} <= {j.name for j in repo.get_all_jobs()}


def test_assets_read_well_in_the_ui() -> None:
    graph = defs.resolve_asset_graph()
    for name in TELEGRAM_ASSETS:
        node = graph.get(dg.AssetKey(name))
        assert node.group_name == "telegram", name
        assert node.description and len(node.description) > 80, name
        assert node.owners, name
        assert node.kinds, name
    assert "duckdb" in graph.get(dg.AssetKey("messages")).kinds
    assert "parquet" in graph.get(dg.AssetKey("messages_backup_parquet")).kinds
    assert "csv" in graph.get(dg.AssetKey("messages_backup_csv")).kinds


def test_warehouse_steps_share_one_pool() -> None:
    graph = defs.resolve_asset_graph()
    for name in WAREHOUSE_ASSETS:
        assets_def = graph.get(dg.AssetKey(name)).assets_def
        assert assets_def.op.pool == "warehouse", name
    for key in graph.asset_check_keys:
        if key.asset_key.to_user_string() in TELEGRAM_ASSETS:
            assert graph.assets_def_for_key(key).op.pool == "warehouse", key


def test_dump_assets_are_partitioned_by_dump() -> None:
    graph = defs.resolve_asset_graph()
    for name in ("raw_dump", "messages"):
        partitions = graph.get(dg.AssetKey(name)).partitions_def
        assert isinstance(partitions, dg.DynamicPartitionsDefinition)
        assert partitions.name == DUMPS
    assert graph.get(dg.AssetKey("user_message_counts")).partitions_def is None


def test_checks_cover_keys_replies_counts_and_backups() -> None:
    names = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert names >= {
        "messages_unique_keys",
        "messages_reply_targets",
        "user_message_counts_match_messages",
        "messages_backup_parquet_verified",
        "messages_backup_csv_verified",
    }


def test_inbox_sensor_is_on_by_default_with_a_short_interval() -> None:
    sensor = defs.resolve_sensor_def("inbox_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds <= 10
    assert sensor.job_name == "ingest_job"


def test_settings_work_on_a_bare_machine() -> None:
    settings = settings_from_env({})
    paths = settings.paths()
    assert paths.data_dir == Path("data").absolute()
    assert paths.warehouse == paths.data_dir / "warehouse.duckdb"
    assert paths.inbox == paths.data_dir / "inbox"
    assert settings.default_zone == "UTC"
    assert settings.backup_row_group_size == 100_000
    assert settings.backup_keep_last == 10


def test_env_vars_override_settings(tmp_path: Path) -> None:
    env = {
        "TG_DATA_DIR": str(tmp_path / "d"),
        "TG_DEFAULT_ZONE": "Europe/Moscow",
        "TG_BACKUP_KEEP_LAST": "3",
    }
    code = (
        "from tg_pipeline.definitions import defs\n"
        "s = defs.resources['settings']\n"
        "print(type(s.data_dir).__name__, type(s.backup_keep_last).__name__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**_base_env(), **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == ["EnvVar", "IntEnvVar"]

    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        settings = settings_from_env()
        resolved = PipelineSettings.model_validate(
            {k: v.get_value() if hasattr(v, "get_value") else v for k, v in settings}
        )
    assert resolved.paths().data_dir == tmp_path / "d"
    assert resolved.default_zone == "Europe/Moscow"
    assert resolved.backup_keep_last == 3


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("TG_")}


def test_root_dagster_yaml_is_the_embedded_default(tmp_path: Path) -> None:
    ref = InstanceRef.from_dir(str(tmp_path), config_dir=str(REPO_ROOT))
    with dg.DagsterInstance.from_ref(ref) as instance:
        assert instance.is_persistent
        assert "sqlite" in type(instance.run_storage).__name__.lower()
        pools = instance.get_concurrency_config().pool_config
        assert pools.default_pool_limit == 1
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] > 0
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert not instance.telemetry_enabled


def test_workspace_yaml_points_at_the_definitions() -> None:
    text = (REPO_ROOT / "workspace.yaml").read_text()
    assert "module_name: tg_pipeline.definitions" in text


def test_shared_names_are_the_definitions_names() -> None:
    repo = defs.get_repository_def()
    jobs = {j.name for j in repo.get_all_jobs()}
    assert {
        names.INGEST_JOB,
        names.INGEST_INBOX_JOB,
        names.BACKUP_JOB,
        names.REPORT_JOB,
        names.DELETE_JOB,
        names.AUDIT_JOB,
    } <= jobs
    assert jobs >= names.UNAUDITED_JOBS
    graph = defs.resolve_asset_graph()
    for asset in (
        names.RAW_DUMP,
        names.MESSAGES,
        names.USER_MESSAGE_COUNTS,
        names.CHAT_REPORT,
        *names.BACKUP_ASSETS.values(),
        names.QUARANTINE,
        names.AUDIT_LOG,
    ):
        assert graph.has(dg.AssetKey(asset)), asset
    assert defs.resolve_sensor_def(names.INBOX_SENSOR).job_name == names.INGEST_JOB
    delete = defs.resolve_job_def(names.DELETE_JOB)
    assert names.DELETE_MESSAGES_OP in {node.name for node in delete.nodes}


def test_shared_run_config_is_valid_for_its_jobs() -> None:
    ingest = defs.resolve_job_def(names.INGEST_JOB)
    for config in (names.ingest_run_config("x"), names.ingest_run_config("x", chat_id=7)):
        assert dg.validate_run_config(ingest, config)
    delete = defs.resolve_job_def(names.DELETE_JOB)
    assert dg.validate_run_config(delete, names.delete_run_config({"chat": "1"}))


def test_the_shared_names_import_no_dagster() -> None:
    code = "import sys, tg_pipeline.defs.names; print('dagster' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"
