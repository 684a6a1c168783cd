"""The directory layout under the data directory."""

from __future__ import annotations

from pathlib import Path

from tg_pipeline.config import Settings
from tg_pipeline.ingest import DataPaths


def test_paths_derive_from_the_data_dir(tmp_path: Path) -> None:
    paths = DataPaths.under(tmp_path / "d", inbox=tmp_path / "drop")
    assert paths.warehouse == tmp_path / "d" / "warehouse.duckdb"
    assert paths.inbox == tmp_path / "drop"
    assert paths.raw == tmp_path / "d" / "raw"
    env = Settings.from_env({"TG_DATA_DIR": str(tmp_path / "e")}).paths()
    assert env.backups == tmp_path / "e" / "backups"
