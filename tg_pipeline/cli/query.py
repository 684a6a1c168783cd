"""``messages``, ``counts`` and ``chats``: read the warehouse, print table, JSON Lines or CSV.

Reads never go through Dagster: they open the DuckDB file read-only, which is quick and
works while no run writes. While one does, the read waits ``--wait`` seconds and then names
the run that holds the file.
"""

from __future__ import annotations

from typing import Any

import click

from tg_pipeline.cli.context import cli_env, wait_option
from tg_pipeline.cli.filters import build_filter, filter_options
from tg_pipeline.cli.output import FORMAT_CHOICES, View, csv_safe_option, emit

_format = click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMAT_CHOICES),
    default="table",
    show_default=True,
    help="table for people; jsonl and csv print every column of every row, for pipes.",
)


def format_option(command: Any) -> Any:
    """``--format`` and ``--csv-safe``."""
    return _format(csv_safe_option(command))


_TIMES = {"first_message_at": "first", "last_message_at": "last"}

MESSAGES_VIEW = View(
    columns=("sent_at", "chat_name", "sender_name", "message_id", "kind", "text"),
    optional=("kind", "message_id"),
    wide=("text",),
)
COUNTS_VIEW = View(
    columns=(
        "chat_id",
        "chat_name",
        "sender_key",
        "sender_name",
        "message_count",
        "first_message_at",
        "last_message_at",
    ),
    optional=("first_message_at", "sender_key", "chat_id"),
    wide=("sender_name", "chat_name"),
    headers={"message_count": "messages", **_TIMES},
)
OVERALL_VIEW = View(
    columns=(
        "sender_key",
        "sender_name",
        "message_count",
        "chats",
        "first_message_at",
        "last_message_at",
    ),
    optional=("first_message_at", "sender_key"),
    wide=("sender_name",),
    headers={"message_count": "messages", **_TIMES},
)
CHATS_VIEW = View(
    columns=(
        "chat_id",
        "name",
        "type",
        "message_count",
        "first_message_at",
        "last_message_at",
        "dumps",
    ),
    optional=("first_message_at", "type", "dumps", "chat_id"),
    wide=("name", "dumps"),
    headers={"message_count": "messages", **_TIMES},
)


@click.command("messages")
@filter_options
@click.option("--desc", is_flag=True, help="Newest first (default: oldest first).")
@click.option("--limit", type=click.IntRange(min=0), help="At most this many messages.")
@click.option("--offset", type=click.IntRange(min=0), default=0, help="Skip this many first.")
@format_option
@wait_option
def messages_command(
    desc: bool, limit: int | None, offset: int, fmt: str, wait_s: float, **filters: Any
) -> None:
    """List messages, ordered by time, filtered by chat, sender, time, text and kind.

    \b
    Examples:
      tg-pipeline messages --chat "Family" --since 2021-01-01 --text "birthday"
      tg-pipeline messages --sender user123 --format jsonl > user123.jsonl
    """
    message_filter = build_filter(**filters)
    env = cli_env()
    with env.read_warehouse(wait_s) as warehouse:
        table = warehouse.messages(message_filter, limit=limit, offset=offset, desc=desc)
    emit(table, fmt, MESSAGES_VIEW)


@click.command("counts")
@click.option("--chat", help="Counts in this chat only (chat id or exact name).")
@click.option(
    "--overall",
    is_flag=True,
    help="One row per sender across all chats instead of one per chat and sender.",
)
@format_option
@wait_option
def counts_command(chat: str | None, overall: bool, fmt: str, wait_s: float) -> None:
    """Messages per sender (per chat, or overall), most active first.

    Only real messages count; service entries (joins, pins, calls) do not.
    """
    if chat is not None and overall:
        raise click.UsageError("--overall sums over all chats; it cannot be combined with --chat")
    env = cli_env()
    with env.read_warehouse(wait_s) as warehouse:
        table = warehouse.counts(chat)
    view = COUNTS_VIEW
    if overall:
        table = _overall(table)
        view = OVERALL_VIEW
    emit(table, fmt, view)


def _overall(table):
    """Sum per-chat counts per sender; keeps the earliest first and the latest last time."""
    import pyarrow as pa
    import pyarrow.compute as pc

    grouped = table.group_by("sender_key").aggregate(
        [
            ("sender_name", "max"),
            ("message_count", "sum"),
            ("chat_id", "count_distinct"),
            ("first_message_at", "min"),
            ("last_message_at", "max"),
        ]
    )
    result = pa.table(
        {
            "sender_key": grouped["sender_key"],
            "sender_name": grouped["sender_name_max"],
            "message_count": grouped["message_count_sum"],
            "chats": grouped["chat_id_count_distinct"],
            "first_message_at": grouped["first_message_at_min"],
            "last_message_at": grouped["last_message_at_max"],
        }
    )
    order = pc.sort_indices(
        result, sort_keys=[("message_count", "descending"), ("sender_key", "ascending")]
    )
    return result.take(order)


@click.command("chats")
@format_option
@wait_option
def chats_command(fmt: str, wait_s: float) -> None:
    """The chats, with message counts, first and last message times and their dumps."""
    env = cli_env()
    with env.read_warehouse(wait_s) as warehouse:
        table = warehouse.chats()
    emit(table, fmt, CHATS_VIEW)
