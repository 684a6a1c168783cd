"""``status``: one look at the whole pipeline — dumps, runs, events, warehouse.

Each part is gathered on its own and reports its own trouble (a busy warehouse, an
unreachable broker, a webserver that does not answer) instead of failing the command:
status is what a person runs when something is wrong.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import click
import orjson
import pyarrow as pa
from rich.console import Console

from tg_pipeline.cli.context import CliEnv, cli_env, wait_option
from tg_pipeline.cli.output import View, render_table
from tg_pipeline.cli.safe_text import markup_safe
from tg_pipeline.errors import TgPipelineError, WarehouseBusy

RECENT_RUNS = 10
KAFKA_TIMEOUT_S = 3.0


def _holder_part(env: CliEnv) -> dict[str, Any] | None:
    """Who holds the warehouse lock, or who held it last and died holding it."""
    from tg_pipeline.warehouse.lock import read_holder

    holder = read_holder(env.paths.warehouse)
    if holder is None:
        return None
    return {
        "run_id": holder.run_id,
        "owner": holder.owner,
        "pid": holder.pid,
        "host": holder.host,
        "since": holder.since,
        "command": holder.command,
        "alive": holder.alive,
    }


def _pg_warehouse_part(url: str) -> dict[str, Any]:
    from tg_pipeline.warehouse.backend import redacted
    from tg_pipeline.warehouse.pg import PgWarehouse

    part: dict[str, Any] = {"path": redacted(url), "state": "missing", "dumps": [], "holder": None}
    try:
        with PgWarehouse.open(url, read_only=True) as warehouse:
            part["row_counts"] = warehouse.row_counts()
            part["dumps"] = warehouse.dumps().to_pylist()
    except TgPipelineError as err:
        part["detail"] = str(err)
        return part
    part["state"] = "ok"
    return part


def _warehouse_part(env: CliEnv, wait_s: float) -> dict[str, Any]:
    from tg_pipeline.warehouse import Warehouse

    if env.settings.warehouse_url is not None:
        return _pg_warehouse_part(env.settings.warehouse_url)
    path = env.paths.warehouse
    part: dict[str, Any] = {
        "path": str(path),
        "state": "missing",
        "dumps": [],
        "holder": _holder_part(env),
    }
    if not path.exists():
        return part
    part["bytes"] = path.stat().st_size
    try:
        with Warehouse.open(path, read_only=True, wait_s=wait_s) as warehouse:
            part["row_counts"] = warehouse.row_counts()
            dumps = warehouse.dumps()
    except WarehouseBusy as busy:
        part["state"] = "busy"
        part["detail"] = env.busy_message(busy, wait_s)
        return part
    part["state"] = "ok"
    part["dumps"] = dumps.to_pylist()
    return part


def _runs_part(env: CliEnv) -> dict[str, Any]:
    try:
        runner = env.runner()
        sweep = getattr(runner, "sweep_dead_runs", None)
        swept = sweep() if sweep is not None else []
        runs = runner.recent_runs(RECENT_RUNS)
    except TgPipelineError as err:
        return {"where": env.url or "local instance", "error": str(err), "runs": []}
    return {
        "where": runner.where,
        "swept": swept,
        "runs": [
            {
                "run_id": r.run_id,
                "job": r.job_name,
                "status": r.status,
                "partition": r.partition,
                "started": _instant(r.start_time),
                "seconds": round(r.end_time - r.start_time, 1)
                if r.start_time and r.end_time
                else None,
            }
            for r in runs
        ],
    }


def _instant(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def _events_part(env: CliEnv) -> dict[str, Any]:
    from tg_pipeline.events import Outbox

    outbox = Outbox.in_data_dir(env.paths.data_dir)
    settings = env.settings.kafka
    part: dict[str, Any] = {"outbox": str(outbox.path)}
    if outbox.path.exists():
        backlog = outbox.backlog()
        part.update(
            pending=backlog.pending,
            pending_counts=backlog.pending_counts,
            pending_audit=backlog.pending_audit,
            delivered=backlog.delivered,
            last_error=backlog.last_error,
            last_delivery_at=backlog.last_delivery_at,
            oldest_waiting_at=backlog.oldest_pending_at,
            summary=backlog.summary(),
            topics=[
                {"topic": settings.topic_for(stream), "stream": stream, **figures}
                for stream, figures in backlog.by_stream().items()
            ],
        )
    else:
        part.update(
            pending=0,
            last_error=None,
            summary="outbox empty (no events yet)",
            topics=[
                {"topic": settings.topic_for(s), "stream": s, "delivered": 0, "waiting": 0}
                for s in ("counts", "audit")
            ],
        )
    part["kafka"] = _kafka_reachability(settings)
    return part


def _kafka_reachability(settings: Any) -> dict[str, Any]:
    if not settings.enabled:
        return {
            "bootstrap": "",
            "reachable": None,
            "detail": "TG_KAFKA_BOOTSTRAP unset; events wait in the outbox",
        }
    from confluent_kafka.admin import AdminClient

    from tg_pipeline.events.topics import kafka_log

    config = {
        **settings.client_config(),
        "socket.timeout.ms": int(KAFKA_TIMEOUT_S * 1000),
        "log.connection.close": False,
    }
    try:
        # librdkafka's connection errors go to logging, not a stream of lines on stderr;
        # the one-line reachability below says the same.
        metadata = AdminClient(config, logger=kafka_log).list_topics(timeout=KAFKA_TIMEOUT_S)
    except Exception as exc:  # KafkaException: broker down, DNS, auth
        detail = exc.args[0].str() if exc.args and hasattr(exc.args[0], "str") else str(exc)
        return {"bootstrap": settings.bootstrap_servers, "reachable": False, "detail": detail}
    return {
        "bootstrap": settings.bootstrap_servers,
        "reachable": True,
        "detail": f"{len(metadata.brokers)} broker(s), {len(metadata.topics)} topic(s)",
    }


def gather(env: CliEnv, wait_s: float) -> dict[str, Any]:
    return {
        "data_dir": str(env.paths.data_dir),
        "warehouse": _warehouse_part(env, wait_s),
        "runs": _runs_part(env),
        "events": _events_part(env),
    }


DUMPS_VIEW = View(
    columns=(
        "dump_id",
        "kind",
        "status",
        "new_count",
        "updated_count",
        "unchanged_count",
        "ingested_at",
    ),
    optional=("updated_count", "unchanged_count", "kind", "ingested_at"),
    wide=("dump_id",),
    headers={"new_count": "new", "updated_count": "updated", "unchanged_count": "unchanged"},
)
TOPICS_VIEW = View(columns=("topic", "delivered", "waiting"), wide=("topic",))
RUNS_VIEW = View(
    columns=("run_id", "job", "partition", "status", "started", "seconds"),
    optional=("started", "seconds"),
    wide=("partition",),
)


def _render(report: dict[str, Any]) -> None:
    console = Console()
    wh = report["warehouse"]
    console.print(f"[bold]Data directory[/bold] {markup_safe(report['data_dir'])}")
    where = markup_safe(wh["path"])
    if wh["state"] == "missing":
        detail = markup_safe(wh.get("detail", "not created yet"))
        console.print(f"[bold]Warehouse[/bold] {where}: {detail}")
    elif wh["state"] == "busy":
        detail = markup_safe(wh["detail"])
        console.print(f"[bold]Warehouse[/bold] {where} ({_size(wh['bytes'])}): {detail}")
    else:
        counts = ", ".join(f"{k} {v}" for k, v in wh["row_counts"].items())
        size = f" ({_size(wh['bytes'])})" if "bytes" in wh else ""
        console.print(f"[bold]Warehouse[/bold] {where}{size}: {counts}")

    holder = wh.get("holder")
    if holder is not None:
        console.print(_holder_line(holder))

    console.print()
    if wh["dumps"]:
        render_table(pa.Table.from_pylist(wh["dumps"]), DUMPS_VIEW, title="Dumps", console=console)
        for d in wh["dumps"]:
            if d.get("status") == "quarantined":
                reason = d.get("error") or "no reason recorded"
                console.print(f"[red]{markup_safe(d['dump_id'])}: {markup_safe(reason)}[/red]")
    else:
        console.print("[bold]Dumps[/bold]: none yet")

    runs = report["runs"]
    console.print()
    title = f"Last runs ({runs['where']})"
    if "error" in runs:
        console.print(f"[bold]{title}[/bold]: {markup_safe(runs['error'])}")
    elif not runs["runs"]:
        console.print(f"[bold]{title}[/bold]: no runs yet")
    else:
        shown = [{**r, "run_id": r["run_id"][:8]} for r in runs["runs"]]
        render_table(pa.Table.from_pylist(shown), RUNS_VIEW, title=title, console=console)

    events = report["events"]
    kafka = events["kafka"]
    reach = {True: "reachable", False: "NOT reachable", None: "not configured"}[kafka["reachable"]]
    console.print()
    console.print(f"[bold]Outbox[/bold] {markup_safe(events['summary'])}")
    render_table(pa.Table.from_pylist(events["topics"]), TOPICS_VIEW, console=console)
    if events.get("last_error"):
        console.print(f"[bold]Last delivery error[/bold] {markup_safe(events['last_error'])}")
    where = f" {markup_safe(kafka['bootstrap'])}" if kafka["bootstrap"] else ""
    console.print(f"[bold]Kafka[/bold]{where}: {reach} ({markup_safe(kafka['detail'])})")


def _holder_line(holder: dict[str, Any]) -> str:
    who = f"run {holder['run_id']}" if holder.get("run_id") else holder.get("owner") or "a writer"
    where = f"pid {holder['pid']}" + (f" on {holder['host']}" if holder.get("host") else "")
    since = f", since {holder['since']}" if holder.get("since") else ""
    if holder["alive"]:
        text = f"held by {who} ({where}{since}), which is alive and writing"
    else:
        text = (
            f"last held by {who} ({where}{since}), whose process is gone (ended by Ctrl-C, "
            "a kill or a crash); "
            "it blocks nothing: the next write proceeds"
        )
    return f"[bold]Writer[/bold] {markup_safe(text)}"


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


@click.command("status")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="json prints one document with every figure, for scripts.",
)
@wait_option
def status_command(fmt: str, wait_s: float) -> None:
    """Dumps and their states, last runs, outbox backlog and Kafka, warehouse size and rows."""
    report = gather(cli_env(), wait_s)
    if fmt == "json":
        sys.stdout.buffer.write(
            orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_UTC_Z, default=str) + b"\n"
        )
        sys.stdout.flush()
        return
    _render(report)
