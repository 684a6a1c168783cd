"""``report``: write the HTML chat report from the warehouse into a directory.

A read like ``counts``: it opens the DuckDB file read-only and never goes through Dagster,
so it works on a warehouse a deployment wrote as long as no run is writing it.
"""

from __future__ import annotations

from pathlib import Path

import click

from tg_pipeline.cli.context import cli_env, wait_option


@click.command("report")
@click.option(
    "--chat",
    "chats",
    multiple=True,
    help="Only this chat (chat id or exact name); repeat for more. Default: every chat.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write index.html and the chat pages into. [default: <data dir>/report]",
)
@click.option(
    "--zone",
    help="IANA zone for local times in every chat. Default: the UTC offset of the chat's "
    "HTML export, else TG_DEFAULT_ZONE (UTC).",
)
@wait_option
def report_command(
    chats: tuple[str, ...], out: Path | None, zone: str | None, wait_s: float
) -> None:
    """Write a self-contained HTML report: an index of chats and a page of charts per chat.

    \b
    Examples:
      tg-pipeline report --out report/ && xdg-open report/index.html
      tg-pipeline report --chat "Family" --zone Europe/Berlin --out family/
    """
    from tg_pipeline.errors import TgPipelineError
    from tg_pipeline.report import ZoneLookup, plan_report, write_report
    from tg_pipeline.warehouse import Warehouse

    env = cli_env()
    target = (out or env.data_dir / "report").expanduser().absolute()
    default_zone = env.settings.default_zone
    with env.read_warehouse(wait_s) as warehouse:
        if not isinstance(warehouse, Warehouse):
            raise TgPipelineError(
                "the chat report reads the DuckDB warehouse; it does not run on a "
                "PostgreSQL warehouse (TG_WAREHOUSE_URL) yet"
            )
        zones = ZoneLookup(warehouse.con, env.paths.raw, zone=zone, default_zone=default_zone)
        plan = plan_report(warehouse.con, target, zones, chats=chats or None)
    # Drawn after the warehouse is closed: a run waiting to write need not wait for it.
    result = write_report(plan)
    click.echo(
        f"{result.index}: {len(result.pages):,} chat(s), {result.messages:,} messages, "
        f"{result.drawn:,} page(s) drawn in {result.seconds:.1f} s"
    )
