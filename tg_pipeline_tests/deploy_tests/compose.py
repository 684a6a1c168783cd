"""The docker-compose file as data, so tests run exactly the commands compose would run."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tg_pipeline_tests.conftest import REPO_ROOT

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"

# ${NAME}, ${NAME:-default}, ${NAME:?message}; `$${NAME}` is compose's escape for a literal `$`.
_VAR = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class ProjectService:
    name: str
    command: list[str]
    healthcheck: list[str] | None
    environment: dict[str, str]


def load_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def referenced_variables(text: str) -> set[str]:
    return set(_VAR.findall(text))


def documented_variables() -> set[str]:
    names = set()
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            names.add(line.split("=", 1)[0].strip())
    return names


def project_services() -> dict[str, ProjectService]:
    """Services built from this repository's Dockerfile, keyed by name."""
    services = {}
    for name, spec in load_compose()["services"].items():
        if "build" not in spec:
            continue
        check = spec.get("healthcheck", {}).get("test")
        services[name] = ProjectService(
            name=name,
            command=list(spec["command"]),
            healthcheck=list(check[1:]) if check and check[0] == "CMD" else None,
            environment={k: str(v) for k, v in spec.get("environment", {}).items()},
        )
    return services


def localize(command: list[str], *, port_map: dict[str, int]) -> list[str]:
    """The compose command for this host: loopback instead of 0.0.0.0, free ports instead
    of the container ports."""
    out = []
    for arg in command:
        if arg == "0.0.0.0":
            arg = "127.0.0.1"
        elif arg in port_map:
            arg = str(port_map[arg])
        out.append(arg)
    return out


def compose_path(path: str) -> Path:
    """A path used inside the containers (working_dir /opt/tg) as it lies in this checkout."""
    return REPO_ROOT / path
