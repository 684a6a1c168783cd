"""A warehouse built once from the fixtures by the CLI itself, and a way to run the CLI.

``run_cli`` calls the ``tg-pipeline`` group in this process through click's runner: the
same arguments, environment, working directory, streams and exit status a user's shell
would see, without paying for a new interpreter and a Dagster import per command. Tests
whose subject is the process itself (signals, a terminal, a closed pipe, memory) start the
console script ``CLI`` instead. Building the warehouse is itself the ingest test's subject,
so it happens once per session through ``tg-pipeline ingest``; tests that write get their
own copy of the data directory. A test marked ``on_both_backends("built")`` (or
``"data_copy"``, ``"empty_data"``) runs on DuckDB and on PostgreSQL (``TG_WAREHOUSE_URL``: a
schema of the session's database); any other runs on DuckDB.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import orjson
import pytest
from click.testing import CliRunner

from tg_pipeline.cli.main import PROG, main
from tg_pipeline_tests.conftest import OWN_FIXTURES, shared_fixture
from tg_pipeline_tests.pg_warehouse import backend_of, fresh_schema, schema_copy

CLI = Path(sys.executable).with_name("tg-pipeline")
HOSTILE_EXPORT = OWN_FIXTURES / "cli" / "hostile_export"
HOSTILE_CHAT = 'O\'Brien & "friends" 100%_🎉'
HOSTILE_CHAT_ID = 4242424242
SEED_CHAT_ID = 1124496986

#: Variables that would point the CLI at the developer's own data or broker.
_SCRUBBED = (
    "TG_DATA_DIR",
    "TG_WAREHOUSE_PATH",
    "TG_WAREHOUSE_URL",
    "TG_INBOX_DIR",
    "TG_DAGSTER_URL",
    "TG_KAFKA_BOOTSTRAP",
    "TG_READ_WAIT",
    "DAGSTER_HOME",
)

#: Handlers a command may replace while it runs (SIGTERM during a run, say).
_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE)
#: Builds its resources from the variables set when it is imported, so each command
#: imports it afresh, as a new process would.
_DEFINITIONS = "tg_pipeline.definitions"


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
    #: stdout as written, for tests that need a CR kept as a CR.
    raw_out: bytes = field(default=b"", repr=False)

    def jsonl(self) -> list[dict]:
        return [orjson.loads(line) for line in self.out.splitlines() if line.strip()]

    def __str__(self) -> str:
        head = f"tg-pipeline {' '.join(self.args)} -> {self.code}"
        return f"{head}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


def _text(data: bytes) -> str:
    """Decoded with newlines translated, as a text-mode pipe reads it."""
    text = data.decode("utf-8", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n")


@dataclass(frozen=True)
class DataDir:
    """A data directory and its warehouse: the DuckDB file in it, or the PostgreSQL one at
    ``warehouse_url``, which every command run on it is given (``TG_WAREHOUSE_URL``)."""

    path: Path
    warehouse_url: str | None = None

    @property
    def on_postgres(self) -> bool:
        return self.warehouse_url is not None

    def env(self, env: dict[str, str] | None = None) -> dict[str, str]:
        """``env`` (else :func:`cli_env`) pointed at this warehouse."""
        env = dict(env or cli_env())
        if self.warehouse_url is not None:
            env["TG_WAREHOUSE_URL"] = self.warehouse_url
        return env


def _argv(args: Sequence[str], data_dir: Path | None) -> list[str]:
    head = ["--data-dir", str(data_dir)] if data_dir is not None else []
    return [*head, *args]


@contextlib.contextmanager
def command_process_state(env: Mapping[str, str], cwd: Path | None) -> Iterator[None]:
    """The environment and working directory a command's process would start with; the
    test process's own, and its signal handlers, are back afterwards whatever the command
    changed (it points ``DAGSTER_HOME`` at its data directory, for one)."""
    saved_env = dict(os.environ)
    saved_cwd = os.getcwd()
    saved_handlers = {sig: signal.getsignal(sig) for sig in _SIGNALS}
    saved_definitions = sys.modules.pop(_DEFINITIONS, None)
    os.environ.clear()
    os.environ.update(env)
    try:
        if cwd is not None:
            os.chdir(cwd)
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        for sig, handler in saved_handlers.items():
            if handler is not None:
                signal.signal(sig, handler)
        _restore_module(_DEFINITIONS, saved_definitions)


def _restore_module(name: str, module: ModuleType | None) -> None:
    """Put back what ``import name`` gave the test process before a command imported it."""
    package, _, attr = name.rpartition(".")
    if module is None:
        sys.modules.pop(name, None)
        with contextlib.suppress(AttributeError, KeyError):
            delattr(sys.modules[package], attr)
        return
    sys.modules[name] = module
    setattr(sys.modules[package], attr, module)


def run_cli(
    *args: str,
    data_dir: Path | DataDir | None,
    input: str | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Result:
    """Run ``tg-pipeline [--data-dir D] ARGS…`` in this process and capture everything.

    An exception the group lets through is printed on stderr with its traceback and exits
    1, as the interpreter does for the console script. A :class:`DataDir` brings its
    warehouse into ``env``.
    """
    if isinstance(data_dir, DataDir):
        env, data_dir = data_dir.env(env), data_dir.path
    with command_process_state(env or cli_env(), cwd):
        outcome = CliRunner().invoke(
            main, _argv(args, data_dir), input=input or "", prog_name=PROG, catch_exceptions=True
        )
    code, err = outcome.exit_code, _text(outcome.stderr_bytes)
    raised = outcome.exception
    if raised is not None and not isinstance(raised, SystemExit) and outcome.exc_info:
        err += "".join(traceback.format_exception(*outcome.exc_info))
        code = 1
    out = outcome.stdout_bytes
    return Result(code, _text(out), err, tuple(args), raw_out=out)


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

    data_dir: DataDir
    ingest: Result
    sources: dict[str, Path]


def broken_export(root: Path) -> Path:
    """A JSON export cut off in the middle of its messages: detected, then unreadable."""
    target = root / "broken_export"
    target.mkdir(parents=True, exist_ok=True)
    text = (HOSTILE_EXPORT / "result.json").read_text(encoding="utf-8")
    (target / "result.json").write_text(text[: len(text) // 2], encoding="utf-8")
    return target


def _build(root: Path, warehouse_url: str | None) -> Built:
    data_dir = DataDir(root / "data", warehouse_url)
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
    assert result.code == 1, str(result)
    assert (data_dir.path / "warehouse.duckdb").exists() != data_dir.on_postgres, str(result)
    return Built(data_dir=data_dir, ingest=result, sources=sources)


@pytest.fixture(scope="session")
def built_duckdb(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return _build(tmp_path_factory.mktemp("cli_built"), None)


@pytest.fixture(scope="session")
def built_postgres(tmp_path_factory: pytest.TempPathFactory, pg_database: str) -> Iterator[Built]:
    with fresh_schema(pg_database) as url:
        yield _build(tmp_path_factory.mktemp("cli_built_pg"), url)


@pytest.fixture(scope="session")
def built(request: pytest.FixtureRequest) -> Built:
    """The session's warehouse, built once per backend."""
    return request.getfixturevalue(f"built_{backend_of(request)}")


@pytest.fixture
def data_copy(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DataDir]:
    """A private copy of the built data directory and its warehouse, for tests that write."""
    built: Built = request.getfixturevalue(f"built_{backend_of(request)}")
    target = tmp_path / "data"
    shutil.copytree(built.data_dir.path, target)
    if built.data_dir.warehouse_url is None:
        yield DataDir(target)
        return
    with schema_copy(built.data_dir.warehouse_url) as url:
        yield DataDir(target, url)


@pytest.fixture
def empty_data(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DataDir]:
    """A new data directory with an empty warehouse, on the backend this test was given."""
    if backend_of(request) == "duckdb":
        yield DataDir(tmp_path / "empty")
        return
    with fresh_schema(request.getfixturevalue("pg_database")) as url:
        yield DataDir(tmp_path / "empty", url)


def messages_jsonl(data_dir: Path | DataDir, *args: str) -> list[dict]:
    result = run_cli("messages", "--format", "jsonl", *args, data_dir=data_dir)
    assert result.code == 0, str(result)
    return result.jsonl()


def ids(rows: Sequence[dict]) -> list[tuple[int, int]]:
    return [(r["chat_id"], r["message_id"]) for r in rows]
