"""What every command needs from the group's shared options: paths, runner, warehouse.

The group in ``main.py`` keeps ``--data-dir``, ``--url``, ``--debug`` and the
:class:`~tg_pipeline.config.Settings` read from the environment on ``ctx.obj``; commands
reach them only through :class:`CliEnv`, so reading them lives in one place.
Reads open the DuckDB file directly and read-only; writes go through a
:class:`~tg_pipeline.cli.runner.JobRunner`, in-process or on the webserver given by ``--url``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tg_pipeline.config import Settings
from tg_pipeline.errors import TgPipelineError, WarehouseBusy
from tg_pipeline.ingest import DataPaths

if TYPE_CHECKING:
    from tg_pipeline.cli.runner import JobRunner, RunInfo
    from tg_pipeline.warehouse.backend import AnyWarehouse

#: How long a read waits for a writing run before it says the warehouse is busy.
DEFAULT_WAIT_S = Settings().read_wait_s


def _wait_or_setting(ctx: click.Context, param: click.Parameter, value: float | None) -> float:
    """``--wait`` when given, else ``TG_READ_WAIT`` from the group's settings."""
    if value is not None:
        return value
    settings = _shared(ctx.find_root().obj, "settings")
    return settings.read_wait_s if settings is not None else DEFAULT_WAIT_S


wait_option = click.option(
    "--wait",
    "wait_s",
    type=click.FloatRange(min=0),
    default=None,
    callback=_wait_or_setting,
    help="Seconds to wait for a run that is writing the warehouse. "
    f"[default: TG_READ_WAIT, else {DEFAULT_WAIT_S:g}]",
)


def _shared(obj: Any, name: str, default: Any = None) -> Any:
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


@dataclass(frozen=True)
class CliEnv:
    data_dir: Path
    url: str | None
    debug: bool
    settings: Settings

    @classmethod
    def from_context(cls, ctx: click.Context) -> CliEnv:
        obj = ctx.find_root().obj
        settings = _shared(obj, "settings") or Settings()
        data_dir = _shared(obj, "data_dir") or settings.data_dir
        return cls(
            data_dir=Path(data_dir).expanduser().absolute(),
            url=_shared(obj, "url"),
            debug=bool(_shared(obj, "debug", False)),
            settings=settings,
        )

    @property
    def paths(self) -> DataPaths:
        """The pipeline's layout under ``--data-dir`` (``TG_WAREHOUSE_PATH`` moves the file)."""
        return self.settings.with_data_dir(self.data_dir).paths()

    def runner(self) -> JobRunner:
        if self.url:
            from tg_pipeline.cli.remote import RemoteRunner

            return RemoteRunner(self.url)
        from tg_pipeline.cli.local import LocalRunner

        return LocalRunner(self.data_dir, settings=self.settings)

    def active_runs(self) -> list[RunInfo]:
        """Runs in progress, best effort: used only to name who holds the warehouse."""
        try:
            return self.runner().active_runs()
        except Exception:
            return []

    @contextmanager
    def read_warehouse(self, wait_s: float = DEFAULT_WAIT_S) -> Iterator[AnyWarehouse]:
        """The warehouse opened read-only; a clear user error when it is missing or busy.
        A PostgreSQL warehouse (``TG_WAREHOUSE_URL``) is never busy: reads do not wait."""
        # Each backend's driver is imported only for a read of that backend.
        url = self.settings.warehouse_url
        if url is not None:
            from tg_pipeline.warehouse.pg import PgWarehouse

            with PgWarehouse.open(url, read_only=True) as pg:
                yield pg
            return
        from tg_pipeline.warehouse.connection import Warehouse

        path = self.paths.warehouse
        if not path.exists():
            raise TgPipelineError(
                f"no warehouse at {path}; ingest a dump first (tg-pipeline ingest PATH)"
            )
        try:
            with Warehouse.open(path, read_only=True, wait_s=wait_s) as warehouse:
                yield warehouse
        except WarehouseBusy as busy:
            raise WarehouseBusy(self.busy_message(busy, wait_s)) from busy

    def busy_message(self, busy: WarehouseBusy, wait_s: float) -> str:
        """Name the run that writes the warehouse; the lock's own report when none is known."""
        holders = [
            r for r in self.active_runs() if r.status in ("STARTED", "STARTING", "CANCELING")
        ]
        if not holders:
            return " ".join(str(busy).split())
        named = ", ".join(
            f"run {r.run_id[:8]} ({r.job_name}"
            + (f", dump {r.partition}" if r.partition else "")
            + ")"
            for r in holders
        )
        verb = "is" if len(holders) == 1 else "are"
        return (
            f"the warehouse is busy: {named} {verb} writing it; waited {wait_s:g}s. "
            "Try again when it has finished."
        )


def cli_env() -> CliEnv:
    return CliEnv.from_context(click.get_current_context())
