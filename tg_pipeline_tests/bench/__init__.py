"""Benchmarks run by ``make bench`` (``python -m tg_pipeline_tests.bench``); development
tooling, not shipped. May import the product, :mod:`tg_pipeline_tests.synthetic` and the
test broker.

Each section is a module of this package with a ``DESCRIPTION`` string and a
``run(ctx: BenchContext) -> list[Measurement]`` function; adding such a module adds the
section (``readers`` first, then ``peers``, ``pipeline`` and ``events``, then any others by
name).
Sections measure in fresh subprocesses (see :mod:`.harness`) so that one measurement's
memory never inflates the next, and share the synthetic exports cached by
:mod:`.exports`.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

#: Sections in the order they run; modules not listed here run after them, by name.
PREFERRED_ORDER = ("readers", "peers", "pipeline", "events")
#: Modules of this package that are helpers, not sections.
HELPERS = frozenset({"harness", "exports", "peer_loops", "peer_env"})


@dataclass(frozen=True)
class BenchContext:
    """What every section gets: the export size, the output folder, and the CPU budget."""

    messages: int
    out: Path
    cpus: int


@dataclass(frozen=True)
class Measurement:
    """One line of the results table.

    ``goal`` is the target as a sentence fragment ("≥ 100k msg/s"); ``met`` is None when
    the line has no goal. ``cpu_seconds``, where measured, is the user + system time of
    every process of the run.
    """

    section: str
    name: str
    items: int
    seconds: float
    peak_rss_mb: float | None = None
    goal: str = ""
    met: bool | None = None
    notes: list[str] = field(default_factory=list)
    cpu_seconds: float | None = None

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else 0.0


def available_sections() -> dict[str, ModuleType]:
    """Section name to module, in running order."""
    names = [
        info.name
        for info in pkgutil.iter_modules(__path__)
        if not info.name.startswith("_") and info.name not in HELPERS
    ]
    ordered = [n for n in PREFERRED_ORDER if n in names] + sorted(
        n for n in names if n not in PREFERRED_ORDER
    )
    sections = {}
    for name in ordered:
        module = importlib.import_module(f"{__name__}.{name}")
        if callable(getattr(module, "run", None)):
            sections[name] = module
    return sections
