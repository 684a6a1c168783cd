"""The README's `dagster job execute` commands, run as a user runs them, in a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tg_pipeline.ingest import DataPaths
from tg_pipeline_tests.dagster_harness import drop, scalar

REPO_ROOT = Path(__file__).resolve().parents[1]
DAGSTER = Path(os.environ.get("VIRTUAL_ENV", REPO_ROOT / ".venv")) / "bin" / "dagster"

pytestmark = pytest.mark.slow


def dagster_job_execute(job: str, *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(DAGSTER), "job", "execute", "-m", "tg_pipeline.definitions", "-j", job],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TG_", "DAGSTER_")) and k != "VIRTUAL_ENV"
    }
    env.update(extra)
    return env


def test_inbox_and_backup_jobs_from_the_command_line(tmp_path, seed_dir, samples_dir) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    paths = DataPaths.under(tmp_path / "data")
    drop(seed_dir / "result.json", paths.inbox, "seed_chat.json")
    drop(seed_dir / "messages.html", paths.inbox, "seed_chat.html")
    full = samples_dir / "json" / "mlomb_chat-analytics__MultiChat_2C_6M.full_account.json"
    drop(full, paths.inbox, "account.json")
    (paths.inbox / "notes.txt").write_text("groceries", encoding="utf-8")
    env = _env(DAGSTER_HOME=str(home), TG_DATA_DIR=str(paths.data_dir))

    ingest = dagster_job_execute("ingest_inbox_job", cwd=tmp_path, env=env)

    # The bad entry fails the run with its message; the three good ones are in.
    assert ingest.returncode != 0
    assert "notes.txt" in ingest.stdout + ingest.stderr
    assert (paths.quarantine / "notes.txt.error.txt").is_file()
    assert sorted(p.name for p in paths.processed.iterdir()) == [
        "account.json",
        "seed_chat.html",
        "seed_chat.json",
    ]
    assert list(paths.inbox.iterdir()) == []
    assert scalar(paths, "SELECT count(*) FROM messages") == 12 + 6
    assert scalar(paths, "SELECT count(*) FROM chats") == 3
    assert scalar(paths, "SELECT count(*) FROM user_message_counts") > 0

    again = dagster_job_execute("ingest_inbox_job", cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stdout + again.stderr

    # DAGSTER_HOME unset: the CLI uses a temporary instance configured by ./dagster.yaml.
    shutil.copyfile(REPO_ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    backup = dagster_job_execute(
        "backup_job", cwd=tmp_path, env=_env(TG_DATA_DIR=str(paths.data_dir))
    )

    assert backup.returncode == 0, backup.stdout + backup.stderr
    parquet = sorted(paths.backups.glob("*.parquet"))
    csv = sorted(p for p in paths.backups.iterdir() if p.name.endswith((".csv", ".csv.gz")))
    assert len(parquet) == 1 and len(csv) == 1
    assert pq.ParquetFile(parquet[0]).metadata.num_rows == 18
    assert not list(tmp_path.glob(".tmp_dagster_home_*"))
