"""The ``tg-pipeline`` command group: shared options and one way to report a failure.

Every command reports failures the same way, so scripts can rely on the exit status:

- 0: done;
- 1: a user error or a bad dump: one line ``tg-pipeline: error: <file>: <position>:
  <message>``, and for a dump a second line saying it was rejected as a whole;
- 2: bad usage (click's own message);
- 1 also when DuckDB runs out of memory: one line naming the setting to raise;
- 3: a bug: its type and message, with the traceback only under ``--debug``;
- 130: interrupted (Ctrl-C, SIGTERM): one line says what was canceled and what, if
  anything, was stored;
- 141: the reader of stdout went away (``| head``); nothing more is printed, as with any
  tool stopped by SIGPIPE.

New commands live in their own module in this package and are registered below with one
line each in :data:`COMMANDS`. A command's module is imported only when that command runs
(or its help is shown), so a read imports neither what an ingest needs nor Dagster.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
from pathlib import Path

import click

from tg_pipeline import __version__
from tg_pipeline.cli import CliContext
from tg_pipeline.config import Settings
from tg_pipeline.errors import DumpError, RunInterrupted, TgPipelineError, out_of_memory_hint
from tg_pipeline.visible import visible

PROG = "tg-pipeline"
EXIT_ERROR = 1
EXIT_INTERNAL = 3
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE
EXIT_INTERRUPTED = 128 + signal.SIGINT


def _debug(ctx: click.Context) -> bool:
    obj = ctx.find_root().obj
    return bool(getattr(obj, "debug", False))


def _memory_limit(ctx: click.Context) -> str | None:
    settings = getattr(ctx.find_root().obj, "settings", None)
    return settings.duckdb.memory_limit if settings is not None else None


def report_error(err: TgPipelineError) -> None:
    """The one- or two-line report of an error a user can act on."""
    click.echo(f"{PROG}: error: {visible(str(err))}", err=True)
    for note in getattr(err, "__notes__", ()):
        click.echo(f"{PROG}: {visible(note)}", err=True)
    if isinstance(err, DumpError):
        click.echo(f"{PROG}: the dump was rejected as a whole; none of it was accepted", err=True)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


#: Each command's name and where it is defined (``module:attribute``).
COMMANDS = {
    "parse": "tg_pipeline.cli.parse:parse_command",
    "ingest": "tg_pipeline.cli.ingest:ingest_command",
    "messages": "tg_pipeline.cli.query:messages_command",
    "counts": "tg_pipeline.cli.query:counts_command",
    "chats": "tg_pipeline.cli.query:chats_command",
    "backup": "tg_pipeline.cli.ingest:backup_command",
    "restore": "tg_pipeline.cli.ingest:restore_command",
    "delete": "tg_pipeline.cli.delete:delete_command",
    "status": "tg_pipeline.cli.status:status_command",
    "report": "tg_pipeline.cli.report:report_command",
}


class _Group(click.Group):
    """A group that loads each command from :data:`COMMANDS` when it is asked for, and
    turns pipeline errors into exit codes instead of tracebacks."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *super().list_commands(ctx)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module, attribute = COMMANDS[cmd_name].split(":")
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BrokenPipeError:
            _silence_stdout()
            ctx.exit(EXIT_BROKEN_PIPE)
        except RunInterrupted as err:
            with contextlib.suppress(OSError, ValueError):
                sys.stdout.flush()
            print(f"{PROG}: {visible(str(err))}", file=sys.stderr, flush=True)
            # The run's thread is still inside DuckDB: end the process now, as a signal
            # would, instead of letting interpreter shutdown tear that thread down noisily.
            # Nothing uncommitted survives the process, and the kernel drops its locks.
            os._exit(EXIT_INTERRUPTED)
        except KeyboardInterrupt:
            # Before any run started (or in a read): nothing was written.
            with contextlib.suppress(OSError, ValueError):
                sys.stdout.flush()
            print(f"{PROG}: interrupted; nothing was stored", file=sys.stderr, flush=True)
            os._exit(EXIT_INTERRUPTED)
        except TgPipelineError as err:
            if _debug(ctx):
                raise
            report_error(err)
            ctx.exit(EXIT_ERROR)
        except Exception as exc:
            if _debug(ctx):
                raise
            hint = out_of_memory_hint(exc, _memory_limit(ctx))
            if hint is not None:
                click.echo(f"{PROG}: error: {hint}", err=True)
                ctx.exit(EXIT_ERROR)
            click.echo(
                f"{PROG}: internal error: {type(exc).__name__}: {exc} "
                "(run with --debug for the traceback)",
                err=True,
            )
            ctx.exit(EXIT_INTERNAL)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the warehouse, inbox, backups and Dagster state live. "
    "[default: TG_DATA_DIR, else data]",
)
@click.option(
    "--url",
    default=None,
    metavar="URL",
    help="A running dagster-webserver to trigger work on, instead of running in-process "
    "[default: TG_DAGSTER_URL].",
)
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.version_option(__version__, prog_name=PROG)
@click.pass_context
def main(ctx: click.Context, data_dir: Path | None, url: str | None, debug: bool) -> None:
    """Telegram chat exports into a clean, queryable warehouse."""
    # Read here, inside the group, so a bad value is reported like any other error.
    ctx.obj = CliContext(data_dir=data_dir or Path("data"), debug=debug)
    settings = ctx.with_resource(Settings.from_env().applied())
    ctx.obj = CliContext(
        data_dir=data_dir or settings.data_dir,
        url=url or settings.dagster_url or None,
        debug=debug,
        settings=settings,
    )


if __name__ == "__main__":
    main(prog_name=PROG)
