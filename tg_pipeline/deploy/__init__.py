"""Instance and workspace files for the docker-compose deployment.

The root ``dagster.yaml`` is the embedded default (SQLite under ``data/``). An operator
selects this directory's ``dagster.yaml`` by pointing ``DAGSTER_HOME`` at a directory that
holds it; the Dockerfile does that for every container.
"""

from pathlib import Path

DEPLOY_DIR = Path(__file__).resolve().parent
DAGSTER_YAML = DEPLOY_DIR / "dagster.yaml"
WORKSPACE_YAML = DEPLOY_DIR / "workspace.yaml"
