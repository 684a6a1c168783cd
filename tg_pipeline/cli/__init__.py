"""The ``tg-pipeline`` command line: a thin layer over the readers, the warehouse and Dagster.

The group and its shared options live in :mod:`tg_pipeline.cli.main`; each command is a
module of its own here, named on the group with one line and imported when it runs. This
package imports nothing heavy, so ``python -m tg_pipeline.cli.main`` loads each module once.
It may import the whole project; Dagster only lazily, when a command runs a job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tg_pipeline.config import Settings


@dataclass(frozen=True)
class CliContext:
    """The group's shared options and the settings read from the environment, kept on
    ``click.Context.obj`` for every command."""

    data_dir: Path
    url: str | None = None
    debug: bool = False
    #: ``None`` outside the group (a command invoked on its own): the built-in defaults.
    settings: Settings | None = field(default=None, compare=False)
