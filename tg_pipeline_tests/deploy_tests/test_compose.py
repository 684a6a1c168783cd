"""The compose file is checked as data: it cannot be started here (no Docker engine)."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import yaml

from tg_pipeline_tests.deploy_tests.compose import (
    COMPOSE_FILE,
    documented_variables,
    load_compose,
    project_services,
    referenced_variables,
)

VENV_BIN = Path(sys.executable).parent
SECRET_KEY = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY", re.IGNORECASE)


def test_compose_is_valid_yaml_with_the_expected_services() -> None:
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    assert set(compose["services"]) == {"postgres", "kafka", "code-server", "webserver", "daemon"}
    assert compose["services"]["kafka"]["image"].startswith("apache/kafka:")
    assert compose["services"]["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == (
        "broker,controller"
    )
    for name, spec in compose["services"].items():
        assert "healthcheck" in spec or name == "daemon", f"{name} has no healthcheck"


def test_project_commands_are_commands_this_project_runs() -> None:
    services = project_services()
    assert set(services) == {"code-server", "webserver", "daemon"}
    for service in services.values():
        executable = service.command[0]
        assert (VENV_BIN / executable).exists() or shutil.which(executable), executable
    assert services["code-server"].command[:3] == ["dagster", "code-server", "start"]
    assert "tg_pipeline.definitions" in services["code-server"].command
    assert services["webserver"].command[0] == "dagster-webserver"
    assert services["daemon"].command[:2] == ["dagster-daemon", "run"]
    for name in ("webserver", "daemon"):
        workspace = services[name].command[services[name].command.index("-w") + 1]
        assert (COMPOSE_FILE.parent / workspace).is_file()


def test_webserver_is_bound_to_loopback_and_postgres_is_not_published() -> None:
    compose = load_compose()["services"]
    assert "ports" not in compose["postgres"]
    assert "ports" not in compose["kafka"]
    (mapping,) = compose["webserver"]["ports"]
    assert mapping.startswith("${TG_WEBSERVER_BIND:-127.0.0.1}:")


def test_services_wait_for_healthy_dependencies() -> None:
    compose = load_compose()["services"]
    for name in ("code-server", "webserver", "daemon"):
        for dependency, condition in compose[name]["depends_on"].items():
            assert condition == {"condition": "service_healthy"}, (name, dependency)


def test_every_variable_is_documented_in_env_example() -> None:
    missing = referenced_variables(COMPOSE_FILE.read_text()) - documented_variables()
    assert not missing, f"undocumented in .env.example: {sorted(missing)}"


def test_no_secret_literals() -> None:
    def walk(node: object, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if SECRET_KEY.search(str(key)) and isinstance(value, str):
                    assert value.startswith("${"), f"{path}.{key} holds a literal secret"
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{path}[{index}]")

    walk(load_compose(), "compose")


def test_data_volume_is_shared_by_every_pipeline_service() -> None:
    compose = load_compose()["services"]
    for name in ("code-server", "webserver", "daemon"):
        assert "tg-data:/opt/tg/data" in compose[name]["volumes"]
        assert compose[name]["environment"]["TG_DATA_DIR"] == "/opt/tg/data"
