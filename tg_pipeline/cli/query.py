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
from tg_pipeline.cli.names import resolve_chat, resolve_filter
from tg_pipeline.cli.output import (
    FORMAT_CHOICES,
    TABLE_PAGE,
    OutputFormat,
    View,
    csv_safe_option,
    emit,
    page_note,
    render_table,
)

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
        "service_count",
        "first_message_at",
        "last_message_at",
        "dumps",
    ),
    optional=("first_message_at", "type", "dumps", "service_count"),
    wide=("name", "dumps"),
    headers={"message_count": "messages", "service_count": "service", **_TIMES},
)


_LIMIT_HELP = (
    f"At most this many rows (the table shows {TABLE_PAGE} unless told; jsonl and csv "
    "print all of them)."
)


@click.command("messages")
@filter_options
@click.option("--desc", is_flag=True, help="Newest first (default: oldest first).")
@click.option("--limit", type=click.IntRange(min=0), help=_LIMIT_HELP)
@click.option("--offset", type=click.IntRange(min=0), default=0, help="Skip this many first.")
@format_option
@wait_option
def messages_command(
    desc: bool, limit: int | None, offset: int, fmt: str, wait_s: float, **filters: Any
) -> None:
    """List messages, ordered by time, filtered by chat, sender, time, text and kind.

    A message here is any entry of the chat, service entries included (--kind message or
    --kind service picks one). jsonl and csv stream every matching row, for exports of
    any size; the table shows a page and says how many more there are.

    \b
    Examples:
      tg-pipeline messages --chat "Family" --since 2021-01-01 --text "birthday"
      tg-pipeline messages --sender user123 --format jsonl > user123.jsonl
    """
    env = cli_env()
    with env.read_warehouse(wait_s) as warehouse:
        message_filter = resolve_filter(warehouse, build_filter(**filters))
        if fmt != OutputFormat.TABLE:
            emit(
                warehouse.messages_reader(message_filter, limit=limit, offset=offset, desc=desc),
                fmt,
            )
            return
        page = TABLE_PAGE if limit is None else limit
        table = warehouse.messages(message_filter, limit=page, offset=offset, desc=desc)
        full = table.num_rows == page and page > 0
        total = warehouse.count_messages(message_filter) if full else offset + table.num_rows
    render_table(table, MESSAGES_VIEW)
    page_note(shown=table.num_rows, offset=offset, total=total)


@click.command("counts")
@click.option(
    "--chat", help="Counts in this chat only: chat id, or name (exact, or a unique part of it)."
)
@click.option(
    "--overall",
    is_flag=True,
    help="One row per sender across all chats instead of one per chat and sender.",
)
@click.option("--limit", type=click.IntRange(min=0), help=_LIMIT_HELP)
@click.option("--offset", type=click.IntRange(min=0), default=0, help="Skip this many first.")
@format_option
@wait_option
def counts_command(
    chat: str | None, overall: bool, limit: int | None, offset: int, fmt: str, wait_s: float
) -> None:
    """Messages per sender (per chat, or overall), most active first.

    Only messages count; service entries (joins, pins, calls) do not, as in ``chats``.
    """
    if chat is not None and overall:
        raise click.UsageError("--overall sums over all chats; it cannot be combined with --chat")
    env = cli_env()
    view = OVERALL_VIEW if overall else COUNTS_VIEW
    with env.read_warehouse(wait_s) as warehouse:
        if chat is not None:
            chat = resolve_chat(warehouse, chat)
        if fmt != OutputFormat.TABLE:
            emit(warehouse.counts_reader(chat, overall=overall, limit=limit, offset=offset), fmt)
            return
        page = TABLE_PAGE if limit is None else limit
        table = warehouse.counts_reader(chat, overall=overall, limit=page, offset=offset)
        table = table.read_all()
        full = table.num_rows == page and page > 0
        what = "overall" if overall else "counts"
        total = warehouse.count_rows(what, chat) if full else offset + table.num_rows
    render_table(table, view)
    page_note(shown=table.num_rows, offset=offset, total=total)


@click.command("chats")
@click.option("--limit", type=click.IntRange(min=0), help=_LIMIT_HELP)
@click.option("--offset", type=click.IntRange(min=0), default=0, help="Skip this many first.")
@format_option
@wait_option
def chats_command(limit: int | None, offset: int, fmt: str, wait_s: float) -> None:
    """The chats: id, name, messages and service entries, first and last message times, and
    the dumps they came from.

    messages counts messages only, as ``counts`` does; service entries (joins, pins,
    calls) are counted apart. The id works wherever --chat is asked for.
    """
    env = cli_env()
    with env.read_warehouse(wait_s) as warehouse:
        if fmt != OutputFormat.TABLE:
            emit(warehouse.chats_reader(limit=limit, offset=offset), fmt)
            return
        page = TABLE_PAGE if limit is None else limit
        table = warehouse.chats_reader(limit=page, offset=offset).read_all()
        full = table.num_rows == page and page > 0
        total = warehouse.count_rows("chats") if full else offset + table.num_rows
    render_table(table, CHATS_VIEW)
    page_note(shown=table.num_rows, offset=offset, total=total)
