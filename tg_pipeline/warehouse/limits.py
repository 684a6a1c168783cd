"""DuckDB's memory limit and thread count for this process, kept apart from the driver so
the settings can name them without loading DuckDB."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MEMORY_LIMIT = "128MB"


@dataclass(frozen=True)
class DuckDBLimits:
    """DuckDB's memory limit and threads; ``None`` and ``0`` mean the defaults."""

    memory_limit: str | None = None
    threads: int = 0


_limits = DuckDBLimits()


def use_limits(limits: DuckDBLimits) -> None:
    """The limits of every connection this process opens without limits of its own."""
    global _limits
    _limits = limits


def current_limits() -> DuckDBLimits:
    """What :func:`use_limits` last set (the defaults at first)."""
    return _limits
