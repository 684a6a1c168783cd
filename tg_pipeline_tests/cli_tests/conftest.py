"""A warehouse built once from the fixtures by the CLI itself, and a way to run the CLI.

Every test runs ``tg-pipeline`` as a subprocess, the way a user does. Building the
warehouse is itself the ingest test's subject, so it happens once per session through
``tg-pipeline ingest``; tests that write get their own copy of the data directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from tg_pipeline_tests.conftest import OWN_FIXTURES, shared_fixture

CLI = Path(sys.executable).with_name("tg-pipeline")
HOSTILE_EXPORT = OWN_FIXTURES / "cli" / "hostile_export"
HOSTILE_CHAT = 'O\'Brien & "friends" 100%_🎉'
HOSTILE_CHAT_ID = 4242424242
SEED_CHAT_ID = 1124496986

#: Variables that would point a CLI subprocess at the developer's own data or broker.
_SCRUBBED = (
    "TG_DATA_DIR",
    "TG_WAREHOUSE_PATH",
    "TG_INBOX_DIR",
    "TG_DAGSTER_URL",
    "TG_KAFKA_BOOTSTRAP",
    "TG_READ_WAIT",
    "DAGSTER_HOME",
)


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    env.update({"COLUMNS": "200", "LINES": "50", "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str
    args: tuple[str, ...]

    def jsonl(self) -> list[dict]:
        return [orjson.loads(line) for line in self.out.splitlines() if line.strip()]

    def __str__(self) -> str:
        head = f"tg-pipeline {' '.join(self.args)} -> {self.code}"
        return f"{head}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


def run_cli(
    *args: str,
    data_dir: Path | None,
    input: str | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> Result:
    """Run ``tg-pipeline [--data-dir D] ARGS…`` and capture everything."""
    argv = [str(CLI)]
    if data_dir is not None:
        argv += ["--data-dir", str(data_dir)]
    argv += list(args)
    proc = subprocess.run(
        argv,
        input=input if input is not None else "",
        capture_output=True,
        text=True,
        env=env or cli_env(),
        cwd=cwd,
        timeout=timeout,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr, tuple(args))


Cli = Callable[..., Result]


def assert_one_line_error(result: Result, *, code: int = 1, contains: str = "") -> None:
    """A user error: the exit code, no traceback, one ``tg-pipeline: error:`` line."""
    assert result.code == code, str(result)
    assert "Traceback" not in result.err, str(result)
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert lines, str(result)
    assert contains in result.err, str(result)


@dataclass(frozen=True)
class Built:
    """The session's warehouse and how it was made."""

    data_dir: Path
    ingest: Result
    sources: dict[str, Path]


def broken_export(root: Path) -> Path:
    """A JSON export cut off in the middle of its messages: detected, then unreadable."""
    target = root / "broken_export"
    target.mkdir(parents=True, exist_ok=True)
    text = (HOSTILE_EXPORT / "result.json").read_text(encoding="utf-8")
    (target / "result.json").write_text(text[: len(text) // 2], encoding="utf-8")
    return target


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("cli_built")
    data_dir = root / "data"
    sources = {
        "seed": shared_fixture("chatparser_seed", "result.json"),
        "hostile": HOSTILE_EXPORT,
        "dm": shared_fixture("telegram_samples", "json", "mlomb_chat-analytics__DM_2A_7M.json"),
        "broken": broken_export(root),
    }
    result = run_cli(
        "ingest", *(str(p) for p in sources.values()), "--format", "jsonl", data_dir=data_dir
    )
    # 1: the broken dump is reported as not ingested; anything else means the build failed.
    assert result.code == 1 and (data_dir / "warehouse.duckdb").exists(), str(result)
    return Built(data_dir=data_dir, ingest=result, sources=sources)


@pytest.fixture
def data_copy(built: Built, tmp_path: Path) -> Path:
    """A private copy of the built data directory, for tests that write."""
    target = tmp_path / "data"
    shutil.copytree(built.data_dir, target)
    return target


def messages_jsonl(data_dir: Path, *args: str) -> list[dict]:
    result = run_cli("messages", "--format", "jsonl", *args, data_dir=data_dir)
    assert result.code == 0, str(result)
    return result.jsonl()


def ids(rows: Sequence[dict]) -> list[tuple[int, int]]:
    return [(r["chat_id"], r["message_id"]) for r in rows]
