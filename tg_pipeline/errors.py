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


class OutOfMemory(TgPipelineError):
    """DuckDB ran out of memory under its limit; the message names the setting to raise."""


#: How DuckDB words an allocation it could not make under its memory limit.
_OUT_OF_MEMORY = (
    "Out of Memory Error",
    "OutOfMemoryException",
    # A COMMIT that fails for want of memory is reported as a transaction error.
    "could not allocate block",
    "failed to allocate data",
    "failed to pin block",
)


#: How a hint below begins; an error that already carries one is passed on as it is.
_HINT = "DuckDB ran out of memory under its limit of "


def out_of_memory_hint(error: BaseException | str, memory_limit: str | None = None) -> str | None:
    """One line naming the setting to raise, when ``error`` is DuckDB running out of memory;
    None for any other error. ``memory_limit`` is the limit in force (None: the default)."""
    text = str(error)
    given = next((line.strip() for line in text.splitlines() if _HINT in line), None)
    if given is not None:
        return given[given.index(_HINT) :]
    name = type(error).__name__ if isinstance(error, BaseException) else ""
    if name != "OutOfMemoryException" and not any(marker in text for marker in _OUT_OF_MEMORY):
        return None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    detail = next((line for line in lines if "allocate" in line or "used" in line), "")
    detail = detail.split("Failed to commit: ")[-1]
    limit = memory_limit or "128MB (the default)"
    return (
        f"{_HINT}{limit}"
        + (f" ({detail.removeprefix('Out of Memory Error: ')})" if detail else "")
        + "; raise TG_DUCKDB_MEMORY_LIMIT (e.g. TG_DUCKDB_MEMORY_LIMIT=1GB) or lower "
        "TG_DUCKDB_THREADS, and run again"
    )


class RunInterrupted(TgPipelineError):
    """Ctrl-C or SIGTERM stopped a run the CLI was executing; the run is marked canceled."""
