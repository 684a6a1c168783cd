"""The events section of ``make bench``, small, against the test broker."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tg_pipeline_tests.bench import BenchContext, available_sections
from tg_pipeline_tests.bench import events as bench_events
from tg_pipeline_tests.kafka_broker import BOOTSTRAP_ENV


@pytest.mark.slow
def test_events_section_measures_publishing_and_audit_latency(
    kafka_broker: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "events" in available_sections()
    if not os.environ.get(BOOTSTRAP_ENV):
        # Our Tansu answers a group join after half the session timeout; keep it short.
        monkeypatch.setenv("TG_KAFKA_SESSION_TIMEOUT_MS", "2000")
    monkeypatch.setenv(BOOTSTRAP_ENV, kafka_broker)
    results = bench_events.run(BenchContext(messages=3_000, out=tmp_path, cpus=2))
    end_to_end, publish, latency = results
    assert end_to_end.name == "ingest → last count event readable"
    assert end_to_end.items > 0 and end_to_end.seconds > 0
    assert any("run end → last count event visible" in note for note in end_to_end.notes)
    assert (publish.name, publish.items) == ("count events → broker", 3_000)
    assert publish.rate > 0
    assert (latency.name, latency.items) == ("run end → audit_log", 4)
    assert latency.seconds > 0
