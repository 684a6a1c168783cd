"""The readers' worker processes: a fork server started early for a dump worth it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tg_pipeline.readers.workers import PARALLEL_DUMP_BYTES

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="reads child processes from /proc (Linux)"
)

# Runs in a fresh interpreter, so no fork server from another test is already there. Prints
# the command lines of its child processes after start_early_for(path).
_PROBE = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    from tg_pipeline.readers.workers import start_early_for

    start_early_for(Path(sys.argv[1]))
    time.sleep(0.3)
    me = str(os.getpid())
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
            cmdline = Path("/proc", entry, "cmdline").read_bytes()
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[1] == me:
            children.append(cmdline.replace(b"\\0", b" ").decode())
    print(json.dumps(children))
    """
)


def _children_after_start(path: Path) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)


def test_a_big_dump_gets_its_fork_server_while_it_is_staged(tmp_path: Path) -> None:
    big = tmp_path / "result.json"
    with big.open("wb") as fh:
        fh.truncate(PARALLEL_DUMP_BYTES)
    children = _children_after_start(big)
    assert any("forkserver" in c for c in children), children


def test_a_small_or_missing_dump_starts_nothing(tmp_path: Path) -> None:
    small = tmp_path / "export"
    small.mkdir()
    (small / "result.json").write_bytes(b"{}" * 1000)
    assert not any("forkserver" in c for c in _children_after_start(small))
    assert not any("forkserver" in c for c in _children_after_start(tmp_path / "gone.json"))
