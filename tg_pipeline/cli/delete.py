"""``delete``: show what a filter matches, ask, then delete it through a Dagster run.

The preview is a read (the same query ``messages`` runs for the same options); the delete
itself is ``delete_job``, a write like any other, so it queues behind a running ingest on
the warehouse pool and is recorded in the instance, and it emits the ``messages_deleted``
audit event. An empty filter is refused unless ``--all`` says so: the old Delete ran
``WHERE 1=1``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click
import pyarrow as pa

from tg_pipeline.cli.context import cli_env, wait_option
from tg_pipeline.cli.filters import build_filter, describe_filter, filter_options
from tg_pipeline.cli.names import resolve_filter
from tg_pipeline.cli.output import render_table
from tg_pipeline.cli.query import MESSAGES_VIEW
from tg_pipeline.cli.safe_text import visible
from tg_pipeline.defs.names import DELETE_JOB, TRIGGER_TAG, delete_run_config
from tg_pipeline.errors import TgPipelineError

SAMPLE_ROWS = 10
#: Up to this many matches the preview also counts them per chat.
BREAKDOWN_MAX_ROWS = 200_000
_FILTER_FIELDS = ("chat", "sender", "since", "until", "text", "regex", "kind")


def _run_config(message_filter: Any, delete_all: bool) -> dict[str, Any]:
    config: dict[str, Any] = {"delete_all": delete_all}
    for name in _FILTER_FIELDS:
        value = getattr(message_filter, name)
        if value is None or value is False:
            continue
        config[name] = value.isoformat() if isinstance(value, datetime) else value
    return delete_run_config(config)


def _per_chat(table: pa.Table) -> list[tuple[str, int]]:
    if table.num_rows == 0:
        return []
    key = "chat_name" if "chat_name" in table.column_names else "chat_id"
    grouped = table.group_by(key).aggregate([("message_id", "count")])
    rows = [
        (str(name) if name is not None else "(unnamed)", int(n))
        for name, n in zip(
            grouped[key].to_pylist(), grouped["message_id_count"].to_pylist(), strict=True
        )
    ]
    return sorted(rows, key=lambda r: (-r[1], r[0]))


@click.command("delete")
@filter_options
@click.option("--all", "delete_all", is_flag=True, help="Delete every message (no filter).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--dry-run", is_flag=True, help="Only show what would be deleted.")
@wait_option
def delete_command(
    delete_all: bool, yes: bool, dry_run: bool, wait_s: float, **filters: Any
) -> None:
    """Delete the messages matching the filters (the same options as `messages`).

    Prints what would be deleted and asks first. The delete runs as one transaction in a
    Dagster run (delete_job); the per-user counts are recomputed and a messages_deleted
    audit event is queued for Kafka.
    """
    message_filter = build_filter(**filters)
    if message_filter.is_empty() and not delete_all:
        raise click.UsageError(
            "refusing to delete without a filter; give --chat, --sender, --since, --until, "
            "--text or --kind, or --all to delete every message"
        )
    if delete_all and not message_filter.is_empty():
        raise click.UsageError("--all deletes every message; it cannot be combined with filters")

    env = cli_env()
    with env.read_warehouse(wait_s) as warehouse:
        # The run deletes what was resolved and shown here, by id.
        message_filter = resolve_filter(warehouse, message_filter)
        count = warehouse.count_messages(message_filter)
        limit = None if count <= BREAKDOWN_MAX_ROWS else SAMPLE_ROWS
        matching = warehouse.messages(message_filter, limit=limit)
    what = visible(describe_filter(message_filter))
    if count == 0:
        click.echo(f"no messages match ({what}); nothing to delete")
        return

    click.echo(f"{count} message(s) match ({what}):")
    if matching.num_rows == count:
        for chat, n in _per_chat(matching):
            click.echo(f"  {n:>8}  {visible(chat)}")
    render_table(
        matching.slice(0, SAMPLE_ROWS),
        MESSAGES_VIEW,
        title=f"first {min(SAMPLE_ROWS, count)} of {count}",
    )
    if dry_run:
        click.echo("dry run: nothing deleted")
        return
    if not yes:
        click.confirm(f"Delete these {count} message(s)?", abort=True, err=True)

    outcome = env.runner().run(
        DELETE_JOB,
        run_config=_run_config(message_filter, delete_all),
        tags={TRIGGER_TAG: "cli"},
    )
    if not outcome.succeeded:
        raise TgPipelineError(
            f"delete failed (run {outcome.run_id}): {outcome.error or outcome.status}"
        )
    result = outcome.outputs.get("delete_messages", {})
    deleted = result.get("deleted", "?")
    click.echo(
        f"deleted {deleted} message(s) in run {outcome.run_id}; counts recomputed; "
        f"audit event messages_deleted queued ({result.get('audit_event_id', '?')})"
    )
