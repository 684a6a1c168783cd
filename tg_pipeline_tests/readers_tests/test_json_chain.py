"""ijson's C pipeline, wired C to C, builds the same records as its public API."""

from __future__ import annotations

from pathlib import Path

import pytest

from tg_pipeline.readers import json_chain
from tg_pipeline_tests.readers_tests.test_json_export import rows_of


def test_public_ijson_pipeline_gives_the_same_records(
    seed_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = rows_of(seed_dir / "result.json")
    monkeypatch.setattr(json_chain, "build_chain", json_chain.public_chain)
    assert rows_of(seed_dir / "result.json") == fast
