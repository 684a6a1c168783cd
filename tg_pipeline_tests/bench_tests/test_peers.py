"""``python -m tg_pipeline_tests.bench --only peers`` end to end on a small export.

The peers install from PyPI into the bench's own venv. Where that venv cannot be made
(no index reachable on a user's machine) the test is skipped with the bench's reason; in
CI it must be made, so there it fails instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tg_pipeline_tests.bench.peer_env import MARKER
from tg_pipeline_tests.bench.peer_loops import FIELDS

MESSAGES = 1_200


def test_peers_run_beside_our_readers_and_print_ratios_and_fields(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tg_pipeline_tests.bench",
            "--messages",
            str(MESSAGES),
            "--out",
            str(tmp_path),
            "--only",
            "peers",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    failed = [line for line in done.stderr.splitlines() if line.startswith("peers: ")]
    if any("could not install the peers' environment" in line for line in failed):
        if os.environ.get("CI"):
            pytest.fail(f"the peers' environment must install in CI: {failed}")
        pytest.skip(f"the peers' environment could not be installed: {failed[0]}")
    assert not failed, failed
    assert (tmp_path / "peers" / "venv" / MARKER).exists()
    # chatpack is no project dependency: it lives only in the bench's venv.
    probe = subprocess.run([sys.executable, "-c", "import chatpack"], capture_output=True)
    assert probe.returncode != 0, "chatpack is importable in the project's environment"

    table = done.stdout.splitlines()
    for ours in ("tg_pipeline json reader", "tg_pipeline html reader"):
        line = next(line for line in table if line.startswith(f"peers    {ours}"))
        assert f"{MESSAGES:,}" in line and " MB" in line
        if (os.cpu_count() or 1) > 1:
            assert any(line.startswith(f"peers    {ours} (1 core)") for line in table)
    for peer, fields in FIELDS.items():
        line = next(line for line in table if line.startswith(f"peers    {peer} "))
        assert " MB" in line
        assert line.rstrip().endswith(("OK", "MISSED"))
        # Every peer walks the whole small export (BeautifulSoup's page limit is not reached).
        assert f"{MESSAGES:,}" in line
        notes = [line for line in table if line.startswith(f"  peers/{peer} ")]
        assert any(f"reads {fields}" in note for note in notes), notes
        kind = "json" if peer in ("chatpack", "ijson") else "html"
        assert any(f"x our tg_pipeline {kind} reader" in note for note in notes), notes
    chatpack = [line for line in table if line.startswith("  peers/chatpack ")]
    assert any(
        "yielded" in note and f"of the export's {MESSAGES:,} records" in note for note in chatpack
    )

    # A rerun reuses the venv instead of installing again.
    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "tg_pipeline_tests.bench",
            "--messages",
            str(MESSAGES),
            "--out",
            str(tmp_path),
            "--only",
            "peers",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    assert "installing the peers" not in again.stderr


def test_peers_that_cannot_install_cost_one_line_and_the_bench_carries_on(
    tmp_path: Path,
) -> None:
    # pip with no index and no config can install nothing: what an unreachable PyPI looks like.
    env = {
        **os.environ,
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(tmp_path / "nowhere"),
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tg_pipeline_tests.bench",
            "--messages",
            "300",
            "--out",
            str(tmp_path),
            "--only",
            "peers",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    said = [line for line in done.stderr.splitlines() if line.startswith("peers: ")]
    assert len(said) == 1 and "could not install the peers' environment" in said[0], said
    table = done.stdout.splitlines()
    assert any(line.startswith("peers    tg_pipeline json reader") for line in table)
    assert any(line.startswith("peers    tg_pipeline html reader") for line in table)
    assert not any(line.startswith("peers    chatpack") for line in table)
    assert not (tmp_path / "peers" / "venv" / MARKER).exists()
