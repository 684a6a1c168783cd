"""The directory layout under the data directory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DataPaths:
    """The directory layout under the data directory."""

    data_dir: Path
    warehouse: Path
    inbox: Path
    processed: Path
    quarantine: Path
    raw: Path
    backups: Path

    @classmethod
    def under(
        cls,
        data_dir: str | os.PathLike[str],
        *,
        warehouse: str | os.PathLike[str] | None = None,
        inbox: str | os.PathLike[str] | None = None,
        processed: str | os.PathLike[str] | None = None,
        quarantine: str | os.PathLike[str] | None = None,
        raw: str | os.PathLike[str] | None = None,
        backups: str | os.PathLike[str] | None = None,
    ) -> DataPaths:
        """Absolute paths, so a run that changes directory still finds the same files."""
        root = Path(data_dir).expanduser().absolute()

        def pick(given: str | os.PathLike[str] | None, default: str) -> Path:
            return Path(given).expanduser().absolute() if given else root / default

        return cls(
            data_dir=root,
            warehouse=pick(warehouse, "warehouse.duckdb"),
            inbox=pick(inbox, "inbox"),
            processed=pick(processed, "processed"),
            quarantine=pick(quarantine, "quarantine"),
            raw=pick(raw, "raw"),
            backups=pick(backups, "backups"),
        )

    def ensure(self) -> DataPaths:
        for directory in (
            self.data_dir,
            self.warehouse.parent,
            self.inbox,
            self.processed,
            self.quarantine,
            self.raw,
            self.backups,
        ):
            directory.mkdir(parents=True, exist_ok=True)
        return self

    def in_inbox(self, path: Path) -> bool:
        try:
            return path.absolute().parent == self.inbox
        except OSError:
            return False
