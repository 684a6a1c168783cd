"""``ingest``, ``restore`` and ``backup``: writes, each one a Dagster run.

``ingest PATH…`` does what the inbox sensor does for a dropped dump, with the path given
instead of found: it names the dump by its content (the same dump id the sensor would
give), registers it as a ``dumps`` partition and runs ``ingest_job`` for that partition with
the path in the ``raw_dump`` config. The run is recorded in the instance, so the UI shows it
like any other. ``restore`` is ``ingest`` limited to tg_pipeline backups.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TextIO

import click
import orjson
import pyarrow as pa
from rich import filesize
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Column

from tg_pipeline.cli.context import CliEnv, cli_env
from tg_pipeline.cli.output import View, render_table
from tg_pipeline.cli.runner import JobRunner, LogSink, RunOutcome
from tg_pipeline.cli.safe_text import markup_safe, visible
from tg_pipeline.defs.names import (
    BACKUP_ASSETS,
    BACKUP_JOB,
    DUMPS,
    INGEST_JOB,
    MESSAGES,
    QUARANTINE,
    TRIGGER_TAG,
    Meta,
    ingest_run_config,
)
from tg_pipeline.errors import DumpError, TgPipelineError

if TYPE_CHECKING:
    from tg_pipeline.ingest.progress import ReadProgress

CLI_TAGS = {TRIGGER_TAG: "cli"}


@dataclass
class DumpSummary:
    path: str
    dump_id: str | None = None
    kind: str | None = None
    status: str = "pending"
    new: int | None = None
    updated: int | None = None
    unchanged: int | None = None
    duplicates: int | None = None
    rows: int | None = None
    error: str | None = None
    run_id: str | None = None
    warning: str | None = None

    @property
    def failed(self) -> bool:
        return self.status != "ingested"

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "dump_id": self.dump_id,
            "kind": self.kind,
            "status": self.status,
            "new": self.new,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "duplicates": self.duplicates,
            "rows": self.rows,
            "error": self.error,
            "run_id": self.run_id,
            "warning": self.warning,
        }


def terminal_stream() -> TextIO:
    """A writer on the stderr the command was started with, kept for the whole command.

    While a run's step executes, Dagster points file descriptors 1 and 2 at its
    compute-log files, and anything the CLI drew on ``sys.stderr`` then would land in the
    run's log instead of on the user's screen. A duplicate of the descriptor taken before
    any run starts keeps pointing at the terminal (or pipe) the user sees.
    """
    try:
        fd = os.dup(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        return sys.stderr
    return os.fdopen(fd, "w", buffering=1, encoding="utf-8", errors="replace", closefd=True)


#: In a pipe or a file, a progress line at most this often (``TG_PROGRESS_EVERY_S``).
PIPE_EVERY_S = 5.0


class RunProgress:
    """Progress of each dump's run, on the stderr the command started with.

    On a terminal: one line per dump with a spinner, a bar that fills by the bytes read,
    the records read so far, the run's latest step and the elapsed time. The run logs
    "… N records read, X of Y bytes" while it reads (a single result.json included), and
    the bar follows. In a pipe or a file: a plain line every :data:`PIPE_EVERY_S` seconds
    while a run reads, so logs show it is alive without filling up.
    """

    def __init__(self, every_s: float | None = None) -> None:
        self.stream = terminal_stream()
        console = Console(file=self.stream)
        self.console = console
        self.terminal = console.is_terminal
        self.every_s = PIPE_EVERY_S if every_s is None else every_s
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.fields[name]}", table_column=Column(no_wrap=True)),
            BarColumn(bar_width=20),
            TextColumn("{task.fields[records]}", table_column=Column(no_wrap=True)),
            TextColumn(
                "{task.fields[step]}",
                style="dim",
                table_column=Column(ratio=1, no_wrap=True, overflow="ellipsis"),
            ),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            expand=True,
            disable=not self.terminal,
        )
        self._names: dict[TaskID, str] = {}
        self._printed: dict[TaskID, float] = {}

    def __enter__(self) -> RunProgress:
        self.progress.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.progress.__exit__(exc_type, exc, tb)
        if self.stream is not sys.stderr:
            with contextlib.suppress(OSError):
                self.stream.close()

    def add(self, name: str, total_bytes: int | None) -> TaskID:
        label = f"{name} ({filesize.decimal(total_bytes)})" if total_bytes else name
        task = self.progress.add_task(
            "", name=markup_safe(label), records="", step="starting", total=None
        )
        self._names[task] = visible(label)
        self._printed[task] = time.monotonic()
        return task

    def on_log(self, task: TaskID) -> LogSink:
        from tg_pipeline.ingest.progress import ReadProgress

        def sink(message: str) -> None:
            update: dict[str, Any] = {"step": markup_safe(" ".join(message.split()))}
            read = ReadProgress.parse(message)
            if read is not None:
                update["records"] = f"{read.records:,} records"
                update["completed"] = read.done
                update["total"] = read.total
            self.progress.update(task, **update)
            if not self.terminal and read is not None:
                self._line(task, message, read)

        return sink

    def _line(self, task: TaskID, message: str, read: ReadProgress) -> None:
        now = time.monotonic()
        if now - self._printed[task] < self.every_s:
            return
        self._printed[task] = now
        share = f" ({read.done / read.total:.0%})" if read.total else ""
        self.stream.write(
            f"tg-pipeline: {self._names[task]}: {visible(' '.join(message.split()))}{share}\n"
        )
        self.stream.flush()

    def done(self, task: TaskID) -> None:
        self.progress.update(task, total=1, completed=1, step="done")

    def note(self, text: str) -> None:
        """A line above the bars: something about a dump the user may not expect."""
        self.console.print(f"tg-pipeline: note: {markup_safe(text)}", soft_wrap=True)


def _identify(path: Path) -> tuple[str, str, int, tuple[str, ...]]:
    """Dump id, kind, size and detection notes the way the sensor names a dropped dump;
    raises DumpError."""
    from tg_pipeline.ingest import dump_id_for
    from tg_pipeline.readers import open_dump

    with open_dump(path) as dump:
        dump_id = dump_id_for(path.name, dump.fingerprint)
        return dump_id, str(dump.kind), dump.total_bytes, dump.notes


def ingest_paths(
    env: CliEnv,
    paths: Sequence[Path],
    *,
    chat_id: int | None,
    backups_only: bool,
) -> list[DumpSummary]:
    """Register and ingest each path with its own run; a bad one never stops the others."""
    runner = env.runner()
    summaries: list[DumpSummary] = []
    with RunProgress(env.settings.progress_every_s) as progress:
        for path in paths:
            summary = DumpSummary(path=str(path))
            summaries.append(summary)
            try:
                summary.dump_id, summary.kind, total, notes = _identify(path)
            except DumpError as err:
                # Not even recognised as a dump: no run, nothing recorded, file left alone.
                summary.status, summary.error = "rejected", str(err)
                continue
            if backups_only and not summary.kind.startswith("backup"):
                summary.status = "refused"
                summary.error = f"not a tg_pipeline backup but a {summary.kind} dump; use ingest"
                continue
            for note in notes:
                progress.note(f"{path.name}: {note}")
            task = progress.add(path.name, total)
            outcome = _run_ingest(runner, path, summary.dump_id, chat_id, progress.on_log(task))
            progress.done(task)
            _summarize(summary, outcome)
    return summaries


def _run_ingest(
    runner: JobRunner, path: Path, dump_id: str, chat_id: int | None, on_log: Any
) -> RunOutcome:
    runner.add_partition(DUMPS, dump_id)
    return runner.run(
        INGEST_JOB,
        run_config=ingest_run_config(str(path.absolute()), chat_id),
        tags=CLI_TAGS,
        partition=dump_id,
        on_log=on_log,
    )


def _summarize(summary: DumpSummary, outcome: RunOutcome) -> None:
    summary.run_id = outcome.run_id
    ingested = outcome.metadata(MESSAGES)
    if Meta.NEW in ingested:
        summary.new = int(ingested[Meta.NEW])
        summary.updated = int(ingested.get(Meta.UPDATED, 0))
        summary.unchanged = int(ingested.get(Meta.UNCHANGED, 0))
        summary.duplicates = int(ingested.get(Meta.DUPLICATES, 0))
        summary.warning = ingested.get(Meta.DUPLICATES_NOTE)
        summary.rows = ingested.get(Meta.ROWS_IN_DUMP)
    # An unreadable dump is recorded by the quarantine asset (the run itself succeeds);
    # anything else (a busy warehouse, a cancelled run) fails the run and leaves the dump
    # as it was: just "failed".
    quarantined = outcome.metadata(QUARANTINE)
    if quarantined:
        summary.status = "quarantined"
        summary.error = str(quarantined.get(Meta.REASON) or "unreadable")
        return
    if outcome.succeeded:
        summary.status = "ingested"
        return
    unreadable = Meta.ERROR_POSITION in outcome.failure_metadata
    summary.status = "quarantined" if unreadable else "failed"
    summary.error = outcome.error or f"run {outcome.run_id} ended {outcome.status}"


SUMMARY_SCHEMA = pa.schema(
    [
        ("dump", pa.string()),
        ("kind", pa.string()),
        ("new", pa.int64()),
        ("updated", pa.int64()),
        ("unchanged", pa.int64()),
        ("duplicates", pa.int64()),
        ("status", pa.string()),
    ]
)
SUMMARY_VIEW = View(
    columns=("dump", "kind", "new", "updated", "unchanged", "duplicates", "status"),
    optional=("kind", "duplicates"),
    wide=("dump",),
)


def print_summaries(summaries: Sequence[DumpSummary], fmt: str) -> None:
    """The per-dump table (or JSON Lines); why a dump failed is the command's error line."""
    if fmt == "jsonl":
        out = sys.stdout.buffer
        for s in summaries:
            out.write(orjson.dumps(s.as_dict()) + b"\n")
        out.flush()
        return
    rows = [{**s.as_dict(), "dump": s.dump_id or Path(s.path).name} for s in summaries]
    table = pa.Table.from_pylist(rows, schema=SUMMARY_SCHEMA)
    render_table(table, SUMMARY_VIEW)


def waiting_events_line(env: CliEnv) -> str | None:
    """ "N events wait for Kafka (why)" when a broker is set and the runs could not reach it."""
    from tg_pipeline.events import Outbox

    outbox = Outbox.in_data_dir(env.paths.data_dir)
    if not env.settings.kafka.enabled or not outbox.path.exists():
        return None
    backlog = outbox.backlog()
    if not backlog.pending:
        return None
    line = f"{backlog.pending} events wait for Kafka; the next run or the relay sensor sends them"
    return f"{line}. Last error: {backlog.last_error}" if backlog.last_error else line


def _finish(summaries: Sequence[DumpSummary], fmt: str) -> None:
    for summary in summaries:
        if summary.warning:
            click.echo(f"tg-pipeline: warning: {summary.warning}", err=True)
    print_summaries(summaries, fmt)
    waiting = waiting_events_line(cli_env())
    if waiting:
        click.echo(f"tg-pipeline: {waiting}", err=True)
    failed = [s for s in summaries if s.failed]
    if failed:
        raise TgPipelineError(
            f"{len(failed)} of {len(summaries)} dump(s) not ingested: "
            + "; ".join(f"{Path(s.path).name}: {s.error}" for s in failed)
        )


path_argument = click.argument(
    "paths",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, path_type=Path),
)
summary_format = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "jsonl"]),
    default="table",
    show_default=True,
    help="How to print the per-dump summary.",
)


@click.command("ingest")
@path_argument
@click.option(
    "--chat-id",
    type=int,
    help="Chat id for HTML dumps, which carry none (default: match by chat name).",
)
@summary_format
def ingest_command(paths: tuple[Path, ...], chat_id: int | None, fmt: str) -> None:
    """Ingest Telegram exports (folder, result.json, messages*.html, .zip) or backups.

    Each PATH becomes a `dumps` partition and one ingest_job run. The same content given
    twice is ingested once; a dump that cannot be read is reported and the others still load.
    """
    _finish(ingest_paths(cli_env(), paths, chat_id=chat_id, backups_only=False), fmt)


@click.command("restore")
@path_argument
@summary_format
def restore_command(paths: tuple[Path, ...], fmt: str) -> None:
    """Restore tg_pipeline backups (.parquet, .csv, .csv.gz): ingest limited to backups.

    Rows already stored are left alone, so restoring into a live warehouse adds only what
    is missing and never duplicates a message.
    """
    _finish(ingest_paths(cli_env(), paths, chat_id=None, backups_only=True), fmt)


@click.command("backup")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["parquet", "csv", "both"]),
    default="both",
    show_default=True,
    help="Which backup files to write.",
)
def backup_command(fmt: str) -> None:
    """Back up the messages table (Parquet and/or CSV, with manifests) and print the files."""
    env = cli_env()
    runner = env.runner()
    formats = ["parquet", "csv"] if fmt == "both" else [fmt]
    with RunProgress(env.settings.progress_every_s) as progress:
        task = progress.add("backup", None)
        outcome = runner.run(
            BACKUP_JOB,
            tags=CLI_TAGS,
            asset_selection=[BACKUP_ASSETS[f] for f in formats],
            on_log=progress.on_log(task),
        )
        progress.done(task)
    if not outcome.succeeded:
        raise TgPipelineError(
            f"backup failed (run {outcome.run_id}): {outcome.error or outcome.status}"
        )
    for f in formats:
        metadata = outcome.metadata(BACKUP_ASSETS[f])
        if Meta.PATH not in metadata:
            raise TgPipelineError(f"backup run {outcome.run_id} reported no {f} file")
        rows = metadata.get(Meta.ROW_COUNT)
        click.echo(f"{metadata[Meta.PATH]}\t{f}\t{rows} rows")
