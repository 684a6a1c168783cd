"""`make run`: the bundled sample export through the real pipeline, on the embedded default.

The demo has a data directory of its own, ``<data>/demo`` (``TG_DEMO_DATA_DIR``), so the
sample chat never lands in the warehouse that holds a user's own exports: its warehouse,
raw copies and backups live there. Its runs go to the Dagster instance ``make dev`` uses
(``<data>/dagster_home``, or ``DAGSTER_HOME``), stamped with the code location ``make dev``
serves, so the UI lists them under their jobs. No service needs to run. Running it again
is safe: the same dumps change nothing, and a backup is only written when something did.
It ends by saying where everything is and what to try next. Settings come from
:mod:`tg_pipeline.config` and are passed to the definitions; the environment is not changed.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import dagster as dg
from rich.console import Console
from rich.table import Table

from tg_pipeline.config import SETTINGS_ENV, ConfigError, Settings
from tg_pipeline.defs.names import (
    BACKUP_ASSETS,
    BACKUP_JOB,
    DUMPS,
    INGEST_JOB,
    MESSAGES,
    Meta,
    ingest_run_config,
)
from tg_pipeline.defs.shared.ui_origin import attach_ui_origin
from tg_pipeline.deploy import ensure_local_instance
from tg_pipeline.ingest import DataPaths, dump_id_for
from tg_pipeline.readers import fingerprint_dump
from tg_pipeline.warehouse import Warehouse

#: The runs' full event logs are in the instance (and the UI); the terminal gets a summary.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def sample_dumps() -> list[Path]:
    """The bundled sample: the same chat as a JSON export and as HTML pages."""
    root = Path(str(resources.files("tg_pipeline") / "sample_export"))
    return [p for p in (root / "json", root / "html") if p.is_dir()]


def demo_settings(settings: Settings) -> Settings:
    """The user's settings with the demo's own data directory, ``TG_DEMO_DATA_DIR`` or
    ``<data>/demo``, holding its warehouse and inbox too."""
    moved = {SETTINGS_ENV["warehouse_path"], SETTINGS_ENV["inbox_dir"]}
    demo = settings.with_data_dir(settings.demo_dir().absolute())
    return replace(demo, warehouse_path=None, inbox_dir=None, given=demo.given - moved)


def main(settings: Settings | None = None) -> int:
    """The demo under ``settings`` (default: this process's environment)."""
    console = Console()
    given = Settings.from_env() if settings is None else settings
    user = given.with_data_dir(given.data_dir.absolute())
    # Runs persist under data/ (or DAGSTER_HOME), where `make dev` sees them.
    home = ensure_local_instance(user.instance_home().absolute())
    demo = demo_settings(user)
    paths = demo.paths().ensure()

    from tg_pipeline.definitions import make_definitions

    defs = make_definitions(settings=demo)

    dumps = sample_dumps()
    if not dumps:
        console.print("[red]the bundled sample export is missing from the package[/red]")
        return 1
    console.print(f"demo data directory  {_short(paths.data_dir)}")
    console.print(f"dagster home         {_short(home)} (the one `make dev` shows)")
    changed = False
    runs: list[str] = []
    with dg.DagsterInstance.from_config(str(home)) as instance:
        ingest_job = defs.resolve_job_def(INGEST_JOB)
        for source in dumps:
            dump_id = dump_id_for(source.name, fingerprint_dump(source))
            instance.add_dynamic_partitions(DUMPS, [dump_id])
            result = ingest_job.execute_in_process(
                instance=instance,
                partition_key=dump_id,
                run_config={**ingest_run_config(str(source)), **QUIET},
                raise_on_error=False,
            )
            attach_ui_origin(instance, result.run_id)
            runs.append(f"{INGEST_JOB} {result.run_id[:8]}")
            if not result.success:
                console.print(f"[red]ingest of {source} failed; see run {result.run_id}[/red]")
                return 1
            meta = _metadata(result, MESSAGES)
            changed = changed or bool(meta.get(Meta.NEW) or meta.get(Meta.UPDATED))
            console.print(
                f"ingested {dump_id}: {meta.get(Meta.NEW)} new, {meta.get(Meta.UPDATED)} updated, "
                f"{meta.get(Meta.UNCHANGED)} unchanged (run {result.run_id[:8]})"
            )
        files: list[str] = []
        if changed or not any(paths.backups.glob("messages-*.parquet")):
            backups = defs.resolve_job_def(BACKUP_JOB).execute_in_process(
                instance=instance, run_config=QUIET, raise_on_error=False
            )
            attach_ui_origin(instance, backups.run_id)
            runs.append(f"{BACKUP_JOB} {backups.run_id[:8]}")
            if not backups.success:
                console.print(f"[red]backup failed; see run {backups.run_id}[/red]")
                return 1
            files = [
                str(_metadata(backups, key)[Meta.PATH])
                for key in (BACKUP_ASSETS["parquet"], BACKUP_ASSETS["csv"])
            ]

    _print_counts(console, paths)
    for path in files:
        console.print(f"backup  {path}  ({Path(path).stat().st_size} bytes)", soft_wrap=True)
    if not files:
        console.print("no backup written: nothing changed since the last one")
    _print_next(console, paths, home, runs)
    return 0


def _short(path: Path) -> str:
    """``path`` relative to the working directory when it lies inside it."""
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _print_next(console: Console, paths: DataPaths, home: Path, runs: list[str]) -> None:
    """Where everything is, and what to try next, as a user would type it."""
    cli = _short(Path(sys.executable).with_name("tg-pipeline"))
    data = _short(paths.data_dir)
    console.print()
    console.print("[bold]Where things are[/bold]")
    for label, where in (
        ("warehouse", paths.warehouse),
        ("raw copies", paths.raw),
        ("backups", paths.backups),
        ("Dagster runs", home),
    ):
        console.print(f"  {label:<13} {_short(where)}", soft_wrap=True)
    console.print(f"  runs made     {', '.join(runs)}", soft_wrap=True)
    console.print()
    console.print("[bold]Try next[/bold]")
    for command, why in (
        ("make dev", "the Dagster UI on http://127.0.0.1:3000: these runs under Runs"),
        (f"{cli} --data-dir {data} chats", "the demo's chats, with their ids"),
        (
            f"{cli} --data-dir {data} messages --chat hiking --limit 5",
            "a chat by part of its name",
        ),
        (f"{cli} --data-dir {data} counts --overall", "messages per sender"),
        (f"{cli} ingest PATH/TO/ChatExport", "your own export, into ./data (not the demo)"),
    ):
        console.print(f"  {command}", soft_wrap=True, markup=False)
        console.print(f"      {why}", style="dim", soft_wrap=True)


def _metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, object]:
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization  # type: ignore[union-attr]
        if mat.asset_key.to_user_string() == asset:
            return {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
    return {}


def _print_counts(console: Console, paths: DataPaths) -> None:
    """One table per chat: who wrote how many messages, first and last (service entries
    such as joins are not messages and are not counted)."""
    with Warehouse.open(paths.warehouse, read_only=True) as warehouse:
        rows = warehouse.counts().to_pylist()
    chats: dict[object, list[dict[str, object]]] = {}
    for row in rows:
        chats.setdefault(row["chat_id"], []).append(row)
    for chat_id, members in chats.items():
        members.sort(key=lambda r: (-int(r["message_count"]), str(r.get("sender_name"))))  # type: ignore[call-overload]
        total = sum(int(r["message_count"]) for r in members)  # type: ignore[call-overload]
        name = members[0].get("chat_name") or "chat"
        table = Table(title=f"{name} (chat {chat_id}): {total} messages")
        table.add_column("sender")
        table.add_column("sender id", no_wrap=True)
        table.add_column("messages", justify="right")
        table.add_column("first (UTC)", no_wrap=True)
        table.add_column("last (UTC)", no_wrap=True)
        for row in members:
            table.add_row(
                str(row.get("sender_name") or ""),
                str(row.get("sender_key") or ""),
                str(row["message_count"]),
                _when(row.get("first_message_at")),
                _when(row.get("last_message_at")),
            )
        console.print(table)


def _when(value: object) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    return "" if value is None else str(value)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ConfigError as err:
        sys.exit(f"make run: error: {err}")
