"""The pipeline's settings, read from the environment in this one module and passed down.

Dagster-free and driver-free: it imports the core's value types and the small modules that
hold the process-wide tuning, never DuckDB, the PostgreSQL driver or the warehouse's code, so
every command starts without them. Entry points (the CLI group, ``make run``,
``definitions.py``) call :meth:`Settings.from_env` once and hand the result on: paths and
Kafka settings as arguments and resources, process-wide tuning (DuckDB and zip limits,
progress interval, drain timeout, fault hooks) through :meth:`Settings.install`. The Dagster
resources still name the variables that were set as ``EnvVar`` (built from
:attr:`Settings.given`), so the UI and each stored run show *which* variable a value came
from and a secret is stored as its name, never its value; their defaults come from here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from tg_pipeline import count_events
from tg_pipeline.errors import TgPipelineError
from tg_pipeline.events.settings import KafkaSettings, use_drain_timeout
from tg_pipeline.ingest.progress import use_progress_interval
from tg_pipeline.readers import safezip
from tg_pipeline.readers.safezip import ZipLimits
from tg_pipeline.warehouse.limits import DuckDBLimits, use_limits

if TYPE_CHECKING:
    from tg_pipeline.ingest import DataPaths
    from tg_pipeline.warehouse.backend import WarehouseTarget

#: Environment variable for each Kafka setting; ``TG_KAFKA_BOOTSTRAP`` unset means no broker.
KAFKA_ENV: dict[str, str] = {
    "bootstrap_servers": "TG_KAFKA_BOOTSTRAP",
    "security_protocol": "TG_KAFKA_SECURITY_PROTOCOL",
    "sasl_mechanism": "TG_KAFKA_SASL_MECHANISM",
    "sasl_username": "TG_KAFKA_SASL_USERNAME",
    "sasl_password": "TG_KAFKA_SASL_PASSWORD",
    "ssl_ca_location": "TG_KAFKA_SSL_CA_LOCATION",
    "client_id": "TG_KAFKA_CLIENT_ID",
    "topic_prefix": "TG_KAFKA_TOPIC_PREFIX",
    "partitions": "TG_KAFKA_PARTITIONS",
    "replication": "TG_KAFKA_REPLICATION",
    "delivery_timeout_ms": "TG_KAFKA_DELIVERY_TIMEOUT_MS",
    "session_timeout_ms": "TG_KAFKA_SESSION_TIMEOUT_MS",
}
#: The Kafka settings that are whole numbers.
KAFKA_INT_FIELDS = frozenset(
    {"partitions", "replication", "delivery_timeout_ms", "session_timeout_ms"}
)

#: Environment variable for each :class:`Settings` field that is not a Kafka setting.
SETTINGS_ENV: dict[str, str] = {
    "data_dir": "TG_DATA_DIR",
    "warehouse_path": "TG_WAREHOUSE_PATH",
    "warehouse_url": "TG_WAREHOUSE_URL",
    "inbox_dir": "TG_INBOX_DIR",
    "demo_data_dir": "TG_DEMO_DATA_DIR",
    "dagster_home": "DAGSTER_HOME",
    "dagster_url": "TG_DAGSTER_URL",
    "read_wait_s": "TG_READ_WAIT",
    "default_zone": "TG_DEFAULT_ZONE",
    "backup_row_group_size": "TG_BACKUP_ROW_GROUP_SIZE",
    "backup_keep_last": "TG_BACKUP_KEEP_LAST",
    "settle_seconds": "TG_SETTLE_SECONDS",
    "progress_every_s": "TG_PROGRESS_EVERY_S",
    "drain_timeout_s": "TG_KAFKA_DRAIN_TIMEOUT",
    "kill_before_count_events": "TG_FAULT_KILL_BEFORE_COUNT_EVENTS",
}
DUCKDB_ENV = {"memory_limit": "TG_DUCKDB_MEMORY_LIMIT", "threads": "TG_DUCKDB_THREADS"}
ZIP_ENV = {
    "max_total_bytes": "TG_ZIP_MAX_TOTAL_BYTES",
    "max_ratio": "TG_ZIP_MAX_RATIO",
    "max_members": "TG_ZIP_MAX_MEMBERS",
}
DRAIN_TIMEOUT_ENV = SETTINGS_ENV["drain_timeout_s"]
#: Test hook: the process kills itself (SIGKILL) after the counts commit, before the outbox
#: write, which makes that window deterministic for the recovery test.
KILL_BEFORE_COUNT_EVENTS_ENV = SETTINGS_ENV["kill_before_count_events"]


class ConfigError(TgPipelineError):
    """An environment variable holds a value the pipeline cannot use; one line names it."""


T = TypeVar("T", int, float)
#: Turns a variable's name and raw value into the setting, or raises ConfigError.
Parser = Callable[[str, str], Any]


def _number(kind: Callable[[str], T], what: str, minimum: float, above: bool = False) -> Parser:
    """A parser of numbers of ``kind`` at least (or, ``above``, greater than) ``minimum``."""

    def parse(name: str, raw: str) -> T:
        try:
            value = kind(raw.strip())
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not {what}") from None
        if value < minimum or (above and value == minimum):
            bound = f"greater than {minimum:g}" if above else f"at least {minimum:g}"
            raise ConfigError(f"{name}={raw!r} must be {bound}")
        return value

    return parse


_POSITIVE_INT = _number(int, "a whole number", 0, above=True)
_COUNT = _number(int, "a whole number", 0)
_SECONDS = _number(float, "a number of seconds", 0)
_POSITIVE = _number(float, "a number", 0, above=True)
#: Negative means zero: the drain then makes one attempt without waiting.
_TIMEOUT = _number(float, "a number of seconds", float("-inf"))


def _text(name: str, raw: str) -> str:
    return raw


def _path(name: str, raw: str) -> Path:
    return Path(raw).expanduser()


def _postgres_url(name: str, raw: str) -> str:
    if not raw.startswith(("postgresql://", "postgres://")):
        raise ConfigError(f"{name}={raw!r} is not a postgresql://user@host:port/db URL")
    return raw


def _flag(name: str, raw: str) -> bool:
    return raw.strip() == "1"


_PARSERS: dict[str, Parser] = {
    "data_dir": _path,
    "warehouse_path": _path,
    "warehouse_url": _postgres_url,
    "inbox_dir": _path,
    "demo_data_dir": _path,
    "dagster_home": _path,
    "dagster_url": _text,
    "read_wait_s": _SECONDS,
    "default_zone": _text,
    "backup_row_group_size": _POSITIVE_INT,
    "backup_keep_last": _POSITIVE_INT,
    "settle_seconds": _SECONDS,
    "progress_every_s": _SECONDS,
    "drain_timeout_s": _TIMEOUT,
    "kill_before_count_events": _flag,
}
_DUCKDB_PARSERS: dict[str, Parser] = {"memory_limit": _text, "threads": _COUNT}
_ZIP_PARSERS: dict[str, Parser] = {
    "max_total_bytes": lambda name, raw: int(_POSITIVE(name, raw)),
    "max_ratio": _POSITIVE,
    "max_members": lambda name, raw: int(_POSITIVE(name, raw)),
}


@dataclass(frozen=True)
class Settings:
    """Every setting the pipeline reads from its environment, with the bare-machine defaults."""

    data_dir: Path = Path("data")
    warehouse_path: Path | None = None
    #: A PostgreSQL warehouse instead of the DuckDB file (``postgresql://user@host/db``).
    warehouse_url: str | None = None
    inbox_dir: Path | None = None
    #: Where ``make run`` keeps the demo's warehouse; ``None`` is ``<data_dir>/demo``.
    demo_data_dir: Path | None = None
    #: The Dagster instance directory; ``None`` is ``<data_dir>/dagster_home``.
    dagster_home: Path | None = None
    dagster_url: str | None = None
    read_wait_s: float = 5.0
    default_zone: str = "UTC"
    backup_row_group_size: int = 100_000
    backup_keep_last: int = 10
    settle_seconds: float = 3.0
    #: ``None``: each reporter's own interval (2 s in a run's log, 5 s in a pipe).
    progress_every_s: float | None = None
    drain_timeout_s: float = 20.0
    kill_before_count_events: bool = False
    duckdb: DuckDBLimits = field(default_factory=DuckDBLimits)
    zip_limits: ZipLimits = field(default_factory=ZipLimits)
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    #: Names of the variables that were set (non-empty), for resources that show them.
    given: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``environ`` (default: this process's environment); an empty variable
        counts as unset. A bad value raises :class:`ConfigError` naming the variable."""
        env = os.environ if environ is None else environ
        given: set[str] = set()

        def read(names: Mapping[str, str], parsers: Mapping[str, Parser]) -> dict[str, Any]:
            values: dict[str, Any] = {}
            for attr, name in names.items():
                raw = env.get(name, "")
                if raw == "":
                    continue
                given.add(name)
                values[attr] = parsers[attr](name, raw)
            return values

        top = read(SETTINGS_ENV, _PARSERS)
        duckdb = DuckDBLimits(**read(DUCKDB_ENV, _DUCKDB_PARSERS))
        zip_limits = ZipLimits(**read(ZIP_ENV, _ZIP_PARSERS))
        kafka_parsers = {
            attr: (_COUNT if attr in KAFKA_INT_FIELDS else _text) for attr in KAFKA_ENV
        }
        kafka = KafkaSettings(**read(KAFKA_ENV, kafka_parsers))
        return cls(**top, duckdb=duckdb, zip_limits=zip_limits, kafka=kafka, given=frozenset(given))

    def paths(self) -> DataPaths:
        """The directory layout under :attr:`data_dir`; nothing is created on disk."""
        from tg_pipeline.ingest import DataPaths

        return DataPaths.under(self.data_dir, warehouse=self.warehouse_path, inbox=self.inbox_dir)

    def warehouse(self) -> WarehouseTarget:
        """The warehouse these settings name: PostgreSQL at :attr:`warehouse_url` when set,
        else the DuckDB file."""
        from tg_pipeline.warehouse.backend import WarehouseTarget

        return WarehouseTarget(self.paths().warehouse, self.warehouse_url)

    def with_data_dir(self, data_dir: Path) -> Settings:
        """These settings with another data directory (``--data-dir``, the demo's)."""
        return replace(self, data_dir=data_dir, given=self.given - {SETTINGS_ENV["data_dir"]})

    def instance_home(self, data_dir: Path | None = None) -> Path:
        """``DAGSTER_HOME`` when set, else ``<data_dir>/dagster_home``."""
        if self.dagster_home is not None:
            return self.dagster_home
        return (data_dir if data_dir is not None else self.data_dir) / "dagster_home"

    def demo_dir(self) -> Path:
        return self.demo_data_dir if self.demo_data_dir is not None else self.data_dir / "demo"

    def install(self) -> None:
        """Hand the process-wide tuning to the core: DuckDB and zip limits, the progress
        interval, the drain timeout and the fault hook. Entry points call this once."""
        global _installed
        use_limits(self.duckdb)
        safezip.use_limits(self.zip_limits)
        use_progress_interval(self.progress_every_s)
        use_drain_timeout(self.drain_timeout_s)
        count_events.kill_before_count_events(self.kill_before_count_events)
        _installed = self

    @contextmanager
    def applied(self) -> Iterator[Settings]:
        """:meth:`install` for the duration of a ``with`` block (a CLI command), then the
        process's previous settings again, so a command run in-process leaves none behind."""
        previous = _installed
        self.install()
        try:
            yield self
        finally:
            previous.install()


#: What :meth:`Settings.install` last handed to the core (the built-in defaults at first).
_installed = Settings()


def documented_variables() -> list[str]:
    """Every variable :meth:`Settings.from_env` reads, in one list (for docs and tests)."""
    names = [*SETTINGS_ENV.values(), *DUCKDB_ENV.values(), *ZIP_ENV.values()]
    return [*names, *KAFKA_ENV.values()]
