"""`make run`: the bundled sample export through the real pipeline, on the embedded default.

Everything lands under the data directory (``./data``, or ``TG_DATA_DIR``): the DuckDB
warehouse, the raw copies, the backups and the Dagster instance (SQLite, in
``data/dagster_home`` unless ``DAGSTER_HOME`` is set). No service needs to run. The runs
it makes are ordinary Dagster runs, so `make dev` afterwards shows them in the UI.
Running it again is safe: the same dumps change nothing, and new backups are added.
"""

from __future__ import annotations

import os
import shutil
import sys
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import dagster as dg
from rich.console import Console
from rich.table import Table

from tg_pipeline.ingest import DataPaths, dump_id_for
from tg_pipeline.partitions import DUMPS
from tg_pipeline.readers import fingerprint_dump
from tg_pipeline.warehouse import Warehouse

REPO_DAGSTER_YAML = Path(__file__).resolve().parents[1] / "dagster.yaml"
#: Used when the package is installed without the repository around it.
FALLBACK_DAGSTER_YAML = """\
concurrency:
  pools:
    default_limit: 1
run_monitoring:
  enabled: true
  free_slots_after_run_end_seconds: 15
telemetry:
  enabled: false
"""

#: The runs' full event logs are in the instance (and the UI); the terminal gets a summary.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def sample_dumps() -> list[Path]:
    """The bundled sample: the same chat as a JSON export and as HTML pages."""
    root = Path(str(resources.files("tg_pipeline") / "sample_export"))
    return [p for p in (root / "json", root / "html") if p.is_dir()]


def ensure_dagster_home(data_dir: Path) -> Path:
    """``DAGSTER_HOME`` if set, else ``<data_dir>/dagster_home`` with the embedded
    dagster.yaml, so runs persist under data/ and `make dev` sees them."""
    given = os.environ.get("DAGSTER_HOME")
    home = Path(given) if given else data_dir / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        if REPO_DAGSTER_YAML.is_file():
            shutil.copyfile(REPO_DAGSTER_YAML, config)
        else:
            config.write_text(FALLBACK_DAGSTER_YAML, encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(home.absolute())
    return home


def main() -> int:
    console = Console()
    paths = DataPaths.from_env().ensure()
    os.environ.setdefault("TG_DATA_DIR", str(paths.data_dir))
    home = ensure_dagster_home(paths.data_dir)

    from tg_pipeline.definitions import defs

    dumps = sample_dumps()
    if not dumps:
        console.print("[red]the bundled sample export is missing from the package[/red]")
        return 1
    console.print(f"data directory  {paths.data_dir}")
    console.print(f"dagster home    {home}")
    with dg.DagsterInstance.get() as instance:
        ingest_job = defs.resolve_job_def("ingest_job")
        for source in dumps:
            dump_id = dump_id_for(source.name, fingerprint_dump(source))
            instance.add_dynamic_partitions(DUMPS, [dump_id])
            result = ingest_job.execute_in_process(
                instance=instance,
                partition_key=dump_id,
                run_config={
                    "ops": {"raw_dump": {"config": {"source": str(source)}}},
                    **QUIET,
                },
                raise_on_error=False,
            )
            if not result.success:
                console.print(f"[red]ingest of {source} failed; see run {result.run_id}[/red]")
                return 1
            meta = _metadata(result, "messages")
            console.print(
                f"ingested {dump_id}: {meta.get('new')} new, {meta.get('updated')} updated, "
                f"{meta.get('unchanged')} unchanged (run {result.run_id[:8]})"
            )
        backups = defs.resolve_job_def("backup_job").execute_in_process(
            instance=instance, run_config=QUIET, raise_on_error=False
        )
        if not backups.success:
            console.print(f"[red]backup failed; see run {backups.run_id}[/red]")
            return 1
        files = [
            _metadata(backups, key)["path"]
            for key in ("messages_backup_parquet", "messages_backup_csv")
        ]

    _print_counts(console, paths)
    for path in files:
        console.print(f"backup  {path}  ({Path(path).stat().st_size} bytes)", soft_wrap=True)
    return 0


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
    sys.exit(main())
