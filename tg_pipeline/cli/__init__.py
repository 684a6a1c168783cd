"""The ``tg-pipeline`` command line: a thin layer over the readers, the warehouse and Dagster.

The group and its shared options live in :mod:`tg_pipeline.cli.main`; each command is a
module of its own here, registered on the group with one ``add_command`` line. This
package imports nothing heavy, so ``python -m tg_pipeline.cli.main`` loads each module once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CliContext:
    """The group's shared options, kept on ``click.Context.obj`` for every command."""

    data_dir: Path
    url: str | None = None
    debug: bool = False
