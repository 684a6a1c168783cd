"""``ingest`` shows progress while the run reads: a moving bar on a terminal, lines in a pipe.

The run executes in the CLI's process, and while its step runs Dagster points the
process's stdout and stderr at compute-log files; the display must still reach the user.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tg_pipeline_tests.cli_tests.conftest import CLI, cli_env
from tg_pipeline_tests.cli_tests.test_hostile_output import run_in_pty
from tg_pipeline_tests.synthetic import generate_big_export

#: Four batches of records: enough for the read to report progress three times on the way.
MESSAGES = 80_000

pytestmark = pytest.mark.slow
_READ = re.compile(r"(\d[\d,]*) records read, (\d[\d,]*) of (\d[\d,]*) bytes")


@pytest.fixture(scope="module")
def one_result_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("progress_export")
    return generate_big_export(folder, MESSAGES, formats=("json",))["json"]


def _reports(text: str) -> list[tuple[int, int, int]]:
    found = {tuple(int(n.replace(",", "")) for n in m) for m in _READ.findall(text)}
    return sorted(found)  # type: ignore[arg-type]


def test_the_bar_moves_through_a_single_result_json_on_a_terminal(
    one_result_json: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TG_PROGRESS_EVERY_S", "0.01")
    code, out = run_in_pty(["--data-dir", str(tmp_path / "data"), "ingest", str(one_result_json)])
    assert code == 0, out
    reports = _reports(out)
    total = one_result_json.stat().st_size
    on_the_way = [(records, done) for records, done, of in reports if done < of == total]
    # Drawn while the run read, not only at its end, by records and by bytes inside the file.
    assert len(on_the_way) >= 2, out[-2000:]
    assert [done for _, done in on_the_way] == sorted(done for _, done in on_the_way)
    assert all(0 < done < total for _, done in on_the_way)
    assert f"{MESSAGES:,} records" in out and "ingested" in out


def test_a_pipe_gets_plain_progress_lines(one_result_json: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(CLI), "--data-dir", str(tmp_path / "data"), "ingest", str(one_result_json)],
        capture_output=True,
        text=True,
        env=cli_env(TG_PROGRESS_EVERY_S="0.01"),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "records read" in line]
    assert len(lines) >= 2, proc.stderr
    assert all(line.startswith("tg-pipeline: result.json (") for line in lines)
    assert re.search(r"bytes \(\d+%\)$", lines[0]), lines[0]
    assert "\x1b" not in proc.stderr  # no terminal codes in a pipe
