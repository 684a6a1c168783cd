"""Fixtures for the ingest path's tests: a fresh data directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from tg_pipeline.ingest import DataPaths


@pytest.fixture
def paths(tmp_path: Path) -> DataPaths:
    return DataPaths.under(tmp_path / "data").ensure()
