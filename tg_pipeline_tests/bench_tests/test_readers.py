"""``python -m tg_pipeline_tests.bench --only readers`` end to end on a small export."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tg_pipeline_tests.bench import available_sections
from tg_pipeline_tests.bench.exports import MARKER


def _bench(out: Path, messages: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "tg_pipeline_tests.bench",
            "--messages",
            str(messages),
            "--out",
            str(out),
            "--only",
            "readers",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )


def test_readers_section_prints_rates_and_memory_and_caches_the_export(tmp_path: Path) -> None:
    first = _bench(tmp_path, 1_500)
    lines = first.stdout.splitlines()
    json_line = next(line for line in lines if line.startswith("readers  json"))
    html_line = next(line for line in lines if line.startswith("readers  html"))
    for line in (json_line, html_line):
        assert "1,500" in line
        assert " MB" in line
        assert line.rstrip().endswith(("OK", "MISSED"))
    assert "writing a 1,500-message export" in first.stderr
    folder = tmp_path / "exports" / "n1500"
    assert (folder / MARKER).exists()
    assert (folder / "json" / "result.json").stat().st_size > 500_000
    assert sorted(p.name for p in (folder / "html").iterdir()) == [
        "messages.html",
        "messages2.html",
    ]
    stamp = (folder / "json" / "result.json").stat().st_mtime_ns
    second = _bench(tmp_path, 1_500)
    assert "writing" not in second.stderr
    assert (folder / "json" / "result.json").stat().st_mtime_ns == stamp


def test_sections_are_discovered_in_order() -> None:
    names = list(available_sections())
    assert names[0] == "readers"
    assert "harness" not in names and "exports" not in names


def test_unknown_section_is_refused_without_a_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tg_pipeline_tests.bench",
            "--only",
            "nonsense",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "invalid choice" in result.stderr
    assert "Traceback" not in result.stderr
