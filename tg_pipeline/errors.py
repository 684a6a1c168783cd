"""Errors that reach a user: each names the file and the place, so a bad dump can be fixed."""

from __future__ import annotations

from pathlib import Path


class TgPipelineError(Exception):
    """Base for every error the pipeline reports to a user instead of a traceback."""


class DumpError(TgPipelineError):
    """A dump that cannot be read. The whole dump is rejected; nothing of it is stored."""

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        position: str | None = None,
    ) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.position = position
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ": ".join(part for part in (self.file, self.position) if part)
        return f"{where}: {self.message}" if where else self.message


class WarehouseBusy(TgPipelineError):
    """Another process holds the DuckDB warehouse for writing."""


class RunInterrupted(TgPipelineError):
    """Ctrl-C or SIGTERM stopped a run the CLI was executing; the run is marked canceled."""
