"""The suite stops the servers it starts even when it was started as a background job."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from tg_pipeline_tests.conftest import REPO_ROOT
from tg_pipeline_tests.webserver import _stop_group

#: Run by a nested pytest: a Dagster server's own signal set-up, in a process the test
#: starts, must leave SIGTERM able to stop it.
INNER_TEST = """
import signal
import subprocess
import sys

SERVER = (
    "import signal\\n"
    "from dagster._utils.interrupts import setup_interrupt_handlers\\n"
    "setup_interrupt_handlers()\\n"
    "print(signal.getsignal(signal.SIGTERM) is signal.SIG_IGN)\\n"
)


def test_a_started_server_hears_sigterm():
    out = subprocess.run(
        [sys.executable, "-c", SERVER], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False", "a Dagster server started by a test ignores SIGTERM"
"""

#: Starts pytest as a shell starts a background job: with SIGINT ignored.
AS_BACKGROUND_JOB = (
    "import os, signal, sys\n"
    "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    "os.execv(sys.executable, [sys.executable, '-m', 'pytest', *sys.argv[1:]])\n"
)


IGNORES_SIGTERM = (
    "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ready', flush=True); time.sleep(60)"
)


def _inner_pytest(test_file: Path, *plugins: str) -> subprocess.CompletedProcess[str]:
    options = [opt for name in plugins for opt in ("-p", name)]
    pytest_args = ["-q", "-p", "no:cacheprovider", "--rootdir", str(test_file.parent)]
    return subprocess.run(
        [sys.executable, "-c", AS_BACKGROUND_JOB, *pytest_args, *options, str(test_file)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_servers_started_from_a_background_suite_still_stop_on_sigterm(tmp_path: Path) -> None:
    test_file = tmp_path / "test_inner.py"
    test_file.write_text(INNER_TEST)

    bare = _inner_pytest(test_file)
    assert bare.returncode == 1, bare.stdout + bare.stderr
    assert "ignores SIGTERM" in bare.stdout

    with_suite = _inner_pytest(test_file, "tg_pipeline_tests.conftest")
    assert with_suite.returncode == 0, with_suite.stdout + with_suite.stderr


def test_a_service_that_ignores_sigterm_is_killed_and_named_so() -> None:
    deaf = subprocess.Popen(
        [sys.executable, "-c", IGNORES_SIGTERM],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    assert deaf.stdout is not None
    assert deaf.stdout.readline() == b"ready\n"

    stragglers = _stop_group(deaf, hang_guard_s=1.0)

    assert deaf.returncode == -signal.SIGKILL
    assert stragglers == [f"{deaf.pid} {sys.executable} -c {IGNORES_SIGTERM} (ignores SIGTERM)"]
