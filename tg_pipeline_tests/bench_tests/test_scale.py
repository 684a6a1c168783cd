"""``--only scale`` end to end on a small export, and the harness's CPU accounting."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tg_pipeline_tests.bench.exports import MARKER
from tg_pipeline_tests.bench.harness import run_command


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tg_pipeline_tests.bench", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )


def test_scale_section_compares_peaks_at_two_sizes(tmp_path: Path) -> None:
    result = _bench("--messages", "1500", "--out", str(tmp_path), "--only", "scale")
    lines = result.stdout.splitlines()
    for label in ("json reader", "tg-pipeline ingest result.json"):
        rows = [line for line in lines if line.startswith("scale ")]
        small = next(line for line in rows if f" {label}, 1,500 messages " in line)
        large = next(line for line in rows if f" {label}, 4,500 messages " in line)
        assert " MB" in small and " MB" in large
        assert large.rstrip().endswith(("OK", "MISSED"))
    assert "peak " in result.stdout and "against 1,500 messages" in result.stdout
    assert "CPU-s per 1M items" in result.stdout
    # The larger export is written as result.json alone.
    large_export = tmp_path / "exports" / "n4500"
    assert (large_export / MARKER).read_text().split() == ["1", "json"]
    assert not (large_export / "html").exists()


def test_scale_section_is_left_out_unless_named() -> None:
    help_text = _bench("--help").stdout
    assert "scale:" in help_text
    assert "(only with --only)" in help_text


def test_cpu_seconds_count_a_process_that_outlives_the_measured_one(tmp_path: Path) -> None:
    # The measured process starts a grandchild in its own session's group that burns
    # CPU after the measured process has exited, as a fork server's workers may.
    script = tmp_path / "orphan.py"
    script.write_text(
        textwrap.dedent(
            """
            import json, os, sys, time
            if os.fork() == 0:
                if os.fork() == 0:
                    time.sleep(0.2)
                    while time.process_time() < 0.5:
                        pass
                    os._exit(0)
                os._exit(0)
            os.wait()
            print(json.dumps({"rows": 1}))
            """
        )
    )
    measured = run_command([sys.executable, str(script)])
    assert measured.report["rows"] == 1
    assert measured.cpu_seconds >= 0.5
