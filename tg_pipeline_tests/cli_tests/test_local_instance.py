"""The CLI's local instance: the one local instance config, opened without touching the
environment, with the CLI's settings handed to the runs' resources."""

from __future__ import annotations

import os
from pathlib import Path

from tg_pipeline.cli.local import LocalRunner
from tg_pipeline.config import Settings
from tg_pipeline.deploy import EMBEDDED_DAGSTER_YAML, ensure_local_instance

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_root_dagster_yaml_is_the_one_local_instance_config() -> None:
    assert (REPO_ROOT / "dagster.yaml").resolve() == EMBEDDED_DAGSTER_YAML.resolve()


def test_a_new_home_gets_the_config_and_an_existing_one_keeps_its_own(tmp_path: Path) -> None:
    home = ensure_local_instance(tmp_path / "new")
    assert (home / "dagster.yaml").read_bytes() == EMBEDDED_DAGSTER_YAML.read_bytes()
    own = tmp_path / "own"
    own.mkdir()
    (own / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    ensure_local_instance(own)
    assert (own / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"


def test_the_runner_opens_its_instance_without_touching_the_environment(tmp_path: Path) -> None:
    before = dict(os.environ)
    data_dir = tmp_path / "data"
    settings = Settings(default_zone="Europe/Berlin", dagster_home=None)
    runner = LocalRunner(data_dir, settings=settings)
    try:
        assert runner.dagster_home == (data_dir / "dagster_home").resolve()
        instance = runner.instance
        assert instance.root_directory == str(runner.dagster_home)
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
        assert instance.run_monitoring_enabled
        resource = runner.defs.resources["settings"]
        assert resource.data_dir == str(data_dir)
        assert resource.default_zone == "Europe/Berlin"
    finally:
        runner.close()
    assert dict(os.environ) == before


def test_dagster_home_in_the_settings_wins(tmp_path: Path) -> None:
    home = tmp_path / "elsewhere"
    runner = LocalRunner(tmp_path / "data", settings=Settings(dagster_home=home))
    assert runner.dagster_home == home.resolve()
