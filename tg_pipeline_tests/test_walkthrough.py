"""The README's walkthrough, run line by line from the repository's root as a user types it.

Only the data directory is the test's own (``TG_DATA_DIR``), so nothing lands in the
checkout's ``data/``. ``make dev`` runs until its UI answers and shows the demo's runs under
their job, then is stopped as Ctrl-C would stop it.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tg_pipeline_tests.conftest import REPO_ROOT
from tg_pipeline_tests.webserver import _stop_group, free_port, graphql

pytestmark = pytest.mark.slow

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")

#: What each line shows when it has run after the lines before it.
SHOWS = {
    "make run": ("Hiking Club", "Where things are", "Try next"),
    ".venv/bin/tg-pipeline ingest tg_pipeline/sample_export/html/": ("ingested",),
    ".venv/bin/tg-pipeline chats": ("Hiking Club",),
    ".venv/bin/tg-pipeline messages --chat hiking --limit 5": ("Hiking Club", "more:"),
    ".venv/bin/tg-pipeline counts --overall": ("Anna Sokolova",),
    ".venv/bin/tg-pipeline backup": (".parquet", ".csv"),
}

_RUNS = """
query {
  pipelineOrError(params: {pipelineName: "ingest_job", repositoryName: "__repository__",
                           repositoryLocationName: "tg_pipeline.definitions"}) {
    ... on Pipeline { runs { runId } }
  }
}
"""


def walkthrough() -> list[str]:
    section = README.split("## Walkthrough", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the walkthrough has no sh block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def test_the_walkthrough_lists_the_tested_lines() -> None:
    lines = walkthrough()
    assert lines[:2] == ["make run", "make dev"]
    assert set(lines) == set(SHOWS) | {"make dev"}


def _make_dev(env: dict[str, str], data: Path) -> None:
    port = free_port()
    log = data / "make-dev.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["make", "dev", f"DAGSTER_PORT={port}"],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        runs = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(url + "/server_info", timeout=2):
                    pass
                runs = graphql(url, _RUNS)["pipelineOrError"].get("runs")
                if runs:
                    break
            except (OSError, AssertionError, KeyError):
                pass
            time.sleep(0.5)
        assert runs and len(runs) == 2, log.read_text(errors="replace")[-3000:]
    finally:
        _stop_group(proc)  # type: ignore[arg-type]


def test_the_walkthrough_runs_as_written(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TG_", "DAGSTER_"))}
    env.update({"TG_DATA_DIR": str(data), "COLUMNS": "120"})
    for line in walkthrough():
        if line == "make dev":
            _make_dev(env, data)
            continue
        proc = subprocess.run(
            ["bash", "-o", "pipefail", "-c", line],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, f"{line}\n{proc.stdout}\n{proc.stderr}"
        for text in SHOWS[line]:
            assert text in proc.stdout, f"{line}: {text!r} missing\n{proc.stdout}"
    assert (data / "demo" / "warehouse.duckdb").is_file() and (data / "warehouse.duckdb").is_file()
