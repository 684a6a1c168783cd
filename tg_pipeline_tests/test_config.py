"""Settings come from the environment in one module, are checked there, and are passed down."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from tg_pipeline.cli.main import main
from tg_pipeline.config import ConfigError, Settings, documented_variables
from tg_pipeline.events import KafkaSettings
from tg_pipeline.readers.safezip import ZipLimits
from tg_pipeline.warehouse.limits import DuckDBLimits, current_limits

PACKAGE = Path(__file__).resolve().parents[1] / "tg_pipeline"
README = PACKAGE.parent / "README.md"
#: Tooling that does not ship with the product, while it still lives in the package.
TOOLING = {"bench", "synthetic"}


def test_an_empty_environment_gives_the_defaults() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.data_dir == Path("data")
    assert settings.warehouse_path is None and settings.inbox_dir is None
    assert settings.demo_dir() == Path("data") / "demo"
    assert settings.instance_home() == Path("data") / "dagster_home"
    assert settings.dagster_url is None
    assert settings.read_wait_s == 5.0
    assert settings.default_zone == "UTC"
    assert (settings.backup_row_group_size, settings.backup_keep_last) == (100_000, 10)
    assert settings.settle_seconds == 3.0
    assert settings.progress_every_s is None
    assert settings.drain_timeout_s == 20.0
    assert not settings.kill_before_count_events
    assert settings.duckdb == DuckDBLimits()
    assert settings.zip_limits == ZipLimits()
    assert settings.kafka == KafkaSettings()
    assert settings.given == frozenset()
    paths = settings.paths()
    assert paths.warehouse == Path("data").absolute() / "warehouse.duckdb"


def test_an_empty_variable_counts_as_unset() -> None:
    assert Settings.from_env({"TG_DATA_DIR": "", "TG_DUCKDB_THREADS": ""}) == Settings()


EACH_VARIABLE: list[tuple[str, str, Any, Any]] = [
    ("TG_DATA_DIR", "/srv/tg", lambda s: s.data_dir, Path("/srv/tg")),
    ("TG_WAREHOUSE_PATH", "/srv/w.duckdb", lambda s: s.paths().warehouse, Path("/srv/w.duckdb")),
    (
        "TG_WAREHOUSE_URL",
        "postgresql://tg@db:5432/warehouse",
        lambda s: (s.warehouse().url, s.warehouse().writers_take_turns),
        ("postgresql://tg@db:5432/warehouse", False),
    ),
    ("TG_INBOX_DIR", "/srv/drop", lambda s: s.paths().inbox, Path("/srv/drop")),
    ("TG_DEMO_DATA_DIR", "/srv/demo", lambda s: s.demo_dir(), Path("/srv/demo")),
    ("DAGSTER_HOME", "/srv/dh", lambda s: s.instance_home(Path("x")), Path("/srv/dh")),
    ("TG_DAGSTER_URL", "http://h:3000", lambda s: s.dagster_url, "http://h:3000"),
    ("TG_READ_WAIT", "0.5", lambda s: s.read_wait_s, 0.5),
    ("TG_DEFAULT_ZONE", "Europe/Berlin", lambda s: s.default_zone, "Europe/Berlin"),
    ("TG_BACKUP_ROW_GROUP_SIZE", "5000", lambda s: s.backup_row_group_size, 5000),
    ("TG_BACKUP_KEEP_LAST", "3", lambda s: s.backup_keep_last, 3),
    ("TG_SETTLE_SECONDS", "0", lambda s: s.settle_seconds, 0.0),
    ("TG_PROGRESS_EVERY_S", "0.01", lambda s: s.progress_every_s, 0.01),
    ("TG_KAFKA_DRAIN_TIMEOUT", "3", lambda s: s.drain_timeout_s, 3.0),
    ("TG_KAFKA_DRAIN_TIMEOUT", "-1", lambda s: s.drain_timeout_s, -1.0),
    ("TG_FAULT_KILL_BEFORE_COUNT_EVENTS", "1", lambda s: s.kill_before_count_events, True),
    ("TG_FAULT_KILL_BEFORE_COUNT_EVENTS", "0", lambda s: s.kill_before_count_events, False),
    ("TG_DUCKDB_MEMORY_LIMIT", "1GB", lambda s: s.duckdb.memory_limit, "1GB"),
    ("TG_DUCKDB_THREADS", "2", lambda s: s.duckdb.threads, 2),
    ("TG_ZIP_MAX_TOTAL_BYTES", "4096", lambda s: s.zip_limits.max_total_bytes, 4096),
    ("TG_ZIP_MAX_RATIO", "50", lambda s: s.zip_limits.max_ratio, 50.0),
    ("TG_ZIP_MAX_MEMBERS", "7", lambda s: s.zip_limits.max_members, 7),
    ("TG_KAFKA_BOOTSTRAP", "b:9092", lambda s: s.kafka.bootstrap_servers, "b:9092"),
    ("TG_KAFKA_SECURITY_PROTOCOL", "SASL_SSL", lambda s: s.kafka.security_protocol, "SASL_SSL"),
    ("TG_KAFKA_SASL_MECHANISM", "PLAIN", lambda s: s.kafka.sasl_mechanism, "PLAIN"),
    ("TG_KAFKA_SASL_USERNAME", "u", lambda s: s.kafka.sasl_username, "u"),
    ("TG_KAFKA_SASL_PASSWORD", "pw", lambda s: s.kafka.sasl_password, "pw"),
    ("TG_KAFKA_SSL_CA_LOCATION", "/ca.pem", lambda s: s.kafka.ssl_ca_location, "/ca.pem"),
    ("TG_KAFKA_CLIENT_ID", "me", lambda s: s.kafka.client_id, "me"),
    ("TG_KAFKA_TOPIC_PREFIX", "staging", lambda s: s.kafka.counts_topic, "staging.user-counts"),
    ("TG_KAFKA_PARTITIONS", "6", lambda s: s.kafka.partitions, 6),
    ("TG_KAFKA_REPLICATION", "3", lambda s: s.kafka.replication, 3),
    ("TG_KAFKA_DELIVERY_TIMEOUT_MS", "500", lambda s: s.kafka.delivery_timeout_ms, 500),
    ("TG_KAFKA_SESSION_TIMEOUT_MS", "700", lambda s: s.kafka.session_timeout_ms, 700),
]


@pytest.mark.parametrize(("name", "raw", "read", "expected"), EACH_VARIABLE)
def test_each_variable_sets_its_setting(name: str, raw: str, read: Any, expected: Any) -> None:
    settings = Settings.from_env({name: raw})
    assert read(settings) == expected
    assert settings.given == {name}


def test_every_variable_read_is_tested_and_documented() -> None:
    assert {name for name, *_ in EACH_VARIABLE} == set(documented_variables())
    readme = README.read_text(encoding="utf-8")
    for name in documented_variables():
        if name.startswith("TG_KAFKA_") or name.startswith("TG_FAULT_") or name == "DAGSTER_HOME":
            continue  # TG_KAFKA_* has its own section; the fault hook is for tests
        assert f"`{name}`" in readme, name


@pytest.mark.parametrize(
    ("name", "raw", "says"),
    [
        ("TG_DUCKDB_THREADS", "four", "is not a whole number"),
        ("TG_DUCKDB_THREADS", "-1", "must be at least 0"),
        ("TG_BACKUP_KEEP_LAST", "0", "must be greater than 0"),
        ("TG_SETTLE_SECONDS", "soon", "is not a number of seconds"),
        ("TG_READ_WAIT", "-2", "must be at least 0"),
        ("TG_ZIP_MAX_MEMBERS", "many", "is not a number"),
        ("TG_ZIP_MAX_RATIO", "0", "must be greater than 0"),
        ("TG_KAFKA_PARTITIONS", "3.5", "is not a whole number"),
        ("TG_KAFKA_DRAIN_TIMEOUT", "later", "is not a number of seconds"),
        ("TG_WAREHOUSE_URL", "mysql://db/x", "is not a postgresql://user@host:port/db URL"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(name: str, raw: str, says: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({name: raw})
    message = str(raised.value)
    assert message == f"{name}={raw!r} {says}"
    assert "\n" not in message


def test_the_cli_reports_a_bad_value_as_its_one_error_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["--data-dir", str(tmp_path), "chats"], env={"TG_DUCKDB_THREADS": "four"}
    )
    assert result.exit_code == 1
    assert result.stderr == "tg-pipeline: error: TG_DUCKDB_THREADS='four' is not a whole number\n"


def test_a_data_dir_given_otherwise_is_no_longer_the_variable() -> None:
    settings = Settings.from_env({"TG_DATA_DIR": "/a", "TG_WAREHOUSE_PATH": "/w.duckdb"})
    moved = settings.with_data_dir(Path("/b"))
    assert moved.data_dir == Path("/b")
    assert moved.given == {"TG_WAREHOUSE_PATH"}
    assert moved.paths().warehouse == Path("/w.duckdb")


def _environment_uses(tree: ast.AST) -> list[tuple[int, str]]:
    """Where a module touches the process environment through ``os``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in {
            "environ",
            "environb",
            "getenv",
            "getenvb",
            "putenv",
            "unsetenv",
        }:
            found.append((node.lineno, ast.unparse(node)))
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            names = {alias.name for alias in node.names}
            if names & {"environ", "environb", "getenv", "putenv", "unsetenv"}:
                found.append((node.lineno, ast.unparse(node)))
    return found


def test_only_the_config_module_reads_or_writes_the_environment() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] in TOOLING or relative == Path("config.py"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        offenders += [f"{relative}:{line}: {text}" for line, text in _environment_uses(tree)]
    assert offenders == []
    config = ast.parse((PACKAGE / "config.py").read_text(encoding="utf-8"))
    assert _environment_uses(config), "the scan must see config.py's own read"


def test_a_command_run_in_process_leaves_no_settings_behind(tmp_path: Path) -> None:
    seen: list[DuckDBLimits] = []
    probe = click.Command("probe", callback=lambda: seen.append(current_limits()))
    group = click.Group("tg-pipeline", params=main.params, callback=main.callback)
    group.add_command(probe)
    before = current_limits()
    env = {"TG_DUCKDB_MEMORY_LIMIT": "1GB", "TG_DUCKDB_THREADS": "1"}
    result = CliRunner().invoke(group, ["--data-dir", str(tmp_path), "probe"], env=env)
    assert result.exit_code == 0, result.output
    assert seen == [DuckDBLimits(memory_limit="1GB", threads=1)]
    assert current_limits() == before
