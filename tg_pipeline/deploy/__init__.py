"""The Dagster instance files: the local (embedded) instance and the docker-compose deployment.

``embedded/dagster.yaml`` is the one local instance config (SQLite under ``data/``): the CLI,
``make run`` and ``make dev`` copy it into a new instance directory, and the repository root's
``dagster.yaml`` links to it. This directory's ``dagster.yaml`` is the deployment's; the
Dockerfile points ``DAGSTER_HOME`` at a directory holding it. Imports nothing of the project.
"""

from __future__ import annotations

import shutil
from pathlib import Path

DEPLOY_DIR = Path(__file__).resolve().parent
DAGSTER_YAML = DEPLOY_DIR / "dagster.yaml"
WORKSPACE_YAML = DEPLOY_DIR / "workspace.yaml"
EMBEDDED_DAGSTER_YAML = DEPLOY_DIR / "embedded" / "dagster.yaml"


def ensure_local_instance(home: Path) -> Path:
    """``home`` created, with the local instance config unless it holds one already."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        shutil.copyfile(EMBEDDED_DAGSTER_YAML, config)
    return home
