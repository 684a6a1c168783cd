"""``tg-pipeline parse PATH``: what the readers see in a dump, as JSON Lines.

stdout carries one record per line in export order, with instants as ISO-8601 with offset:
the stable contract for scripts and tests. Everything meant for people goes to stderr.
Each batch is written and flushed as soon as it is read, so a large dump streams and
``| head`` returns at once. A dump that turns out bad halfway is still rejected as a whole:
the lines printed before the error are not a dump, and the error says so.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

import click
import pyarrow as pa
import pyarrow.compute as pc

from tg_pipeline.errors import DumpError, TgPipelineError
from tg_pipeline.readers import Dump, open_dump, read_dump
from tg_pipeline.readers.timeparse import zone as lookup_zone
from tg_pipeline.records import DEFAULT_BATCH_SIZE, ReadOptions, to_jsonl
from tg_pipeline.visible import visible


class Tally:
    """Counts by kind and distinct chats, for the summary line."""

    def __init__(self) -> None:
        self.records = 0
        self.kinds: Counter[str] = Counter()
        self.chats: set[object] = set()

    def add(self, batch: pa.RecordBatch) -> None:
        self.records += batch.num_rows
        counts = pc.value_counts(batch.column("kind"))
        for kind, count in zip(
            counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True
        ):
            self.kinds[kind] += count
        pairs = pa.table({"id": batch.column("chat_id"), "name": batch.column("chat_name")})
        for row in pairs.group_by(["id", "name"]).aggregate([]).to_pylist():
            self.chats.add(row["id"] if row["id"] is not None else ("name", row["name"]))


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def _summary(dump: Dump, tally: Tally, elapsed: float) -> None:
    files = len(dump.files)
    source = visible(str(dump.source))
    click.echo(
        f"tg-pipeline: {source}: {dump.kind}, {files} file{'s' if files != 1 else ''}, "
        f"{_size(dump.total_bytes)}, fingerprint {dump.fingerprint[:12]}",
        err=True,
    )
    for note in dump.notes:
        click.echo(f"tg-pipeline: note: {visible(note)}", err=True)
    kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(tally.kinds.items()))
    chats = len(tally.chats)
    rate = tally.records / elapsed if elapsed > 0 else 0.0
    click.echo(
        f"tg-pipeline: {tally.records} records ({kinds or 'none'}) in {chats} "
        f"chat{'s' if chats != 1 else ''}; {elapsed:.2f} s, {rate:,.0f} msg/s",
        err=True,
    )


def _check_zone(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        lookup_zone(value)
    except TgPipelineError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


@click.command("parse")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--zone",
    default="UTC",
    show_default=True,
    callback=_check_zone,
    help="IANA time zone for exports whose times carry no offset (before 2022).",
)
@click.option(
    "--chat-id",
    type=int,
    default=None,
    help="The chat an HTML export belongs to; HTML carries no chat id.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    help="Records per batch; output is written and flushed once per batch.",
)
def parse_command(path: Path, zone: str, chat_id: int | None, batch_size: int) -> None:
    """Print the records of the dump at PATH as JSON Lines, in export order.

    PATH is an export folder, a result.json, a messages*.html page, a .zip of either, or a
    tg_pipeline backup (.parquet, .csv, .csv.gz). A summary goes to stderr.
    """
    started = time.perf_counter()
    options = ReadOptions(default_zone=zone, chat_id=chat_id, batch_size=batch_size)
    out = sys.stdout.buffer
    tally = Tally()
    try:
        with open_dump(path) as dump:
            for batch in read_dump(dump, options):
                out.writelines(to_jsonl(batch))
                out.flush()
                tally.add(batch)
    except DumpError as err:
        if tally.records:
            err.add_note(
                f"the {tally.records} records printed before the error are not a complete dump"
            )
        raise
    _summary(dump, tally, time.perf_counter() - started)
