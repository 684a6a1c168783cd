"""A real ``dagster-webserver`` for tests, started on a free loopback port.

The CLI's ``--url`` mode and the deployment both talk to Dagster's GraphQL API, so their tests
need the real server, not a stand-in. The server runs in its own session (process group) so
that everything it spawns (the code server, run workers) can be stopped together, and the
helper checks on the way out that nothing was left behind: a leaked run worker would hold the
DuckDB warehouse and break the next test.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

#: An instance whose runs start at once: the default QueuedRunCoordinator waits for a daemon,
#: which these tests do not run. Runs are launched as subprocesses of the code server.
IMMEDIATE_RUNS_INSTANCE = """\
run_coordinator:
  module: dagster._core.run_coordinator
  class: DefaultRunCoordinator
run_launcher:
  module: dagster
  class: DefaultRunLauncher
telemetry:
  enabled: false
"""

WEBSERVER_BIN = Path(sys.executable).with_name("dagster-webserver")

#: Dagster's code servers wait for RPCs in flight before they stop, by default up to 60 s.
#: Stopped while the webserver still talks to them (as every test stops them), they could
#: outlast the grace a test gives them on a busy machine and be reported as left behind.
QUICK_GRPC_SHUTDOWN = {"DAGSTER_GRPC_SHUTDOWN_GRACE_PERIOD": "5"}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def write_instance_yaml(dagster_home: Path, text: str = IMMEDIATE_RUNS_INSTANCE) -> Path:
    """Create ``DAGSTER_HOME`` with a ``dagster.yaml``; returns the home directory."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").write_text(text)
    return dagster_home


def graphql(url: str, query: str, variables: Mapping[str, object] | None = None) -> dict:
    """POST one GraphQL document to the server and return its ``data``; raises on errors."""
    body = json.dumps({"query": query, "variables": dict(variables or {})}).encode()
    request = urllib.request.Request(
        url.rstrip("/") + "/graphql",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        payload = json.load(response)
    if payload.get("errors"):
        raise AssertionError(f"GraphQL errors: {payload['errors']}")
    return payload["data"]


_LOCATIONS_QUERY = """
query {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on PythonError { message }
        }
      }
    }
  }
}
"""


def _locations_loaded(url: str) -> bool:
    """True once every code location finished loading; raises if one failed to load."""
    data = graphql(url, _LOCATIONS_QUERY)["workspaceOrError"]
    if data["__typename"] != "Workspace":
        return False
    entries = data["locationEntries"]
    if not entries:
        return False
    for entry in entries:
        if entry["loadStatus"] != "LOADED":
            return False
        loaded = entry["locationOrLoadError"] or {}
        if loaded.get("__typename") == "PythonError":
            raise AssertionError(f"code location {entry['name']} failed: {loaded['message']}")
    return True


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _group_members(pgid: int) -> list[str]:
    """``pid cmdline`` of every live, non-zombie process in the group, for failure messages."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            state, process_group = fields[0], int(fields[2])
            if process_group != pgid or state == "Z":
                continue
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            deaf = " (ignores SIGTERM)" if _ignores_sigterm(entry / "status") else ""
        except (OSError, ValueError):
            continue
        members.append(f"{entry.name} {cmdline}{deaf}")
    return members


def _ignores_sigterm(status: Path) -> bool:
    """Whether the process's ignored-signals mask holds SIGTERM: a process started with
    Ctrl-C ignored passes that on, and some servers then ignore SIGTERM as well."""
    for line in status.read_text().splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) >> (signal.SIGTERM - 1) & 1)
    return False


#: How long a stopped service may take to exit by itself before it counts as hung. A guard
#: against hangs, not a speed check: on a loaded machine a clean shutdown can take a while.
STOP_HANG_GUARD_S = 120.0


def _stop_group(
    proc: subprocess.Popen[bytes], hang_guard_s: float = STOP_HANG_GUARD_S
) -> list[str]:
    """SIGTERM the whole group, escalate to SIGKILL; return processes that needed SIGKILL."""
    pgid = proc.pid
    if _group_alive(pgid):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + hang_guard_s
    while time.monotonic() < deadline:
        if proc.poll() is not None and not _group_members(pgid):
            return []
        time.sleep(0.1)
    stragglers = _group_members(pgid)
    if _group_alive(pgid):
        os.killpg(pgid, signal.SIGKILL)
    proc.wait(timeout=10)
    return stragglers


@contextmanager
def running_webserver(
    dagster_home: Path,
    *,
    module: str | None = "tg_pipeline.definitions",
    workspace: Path | None = None,
    env: Mapping[str, str] | None = None,
    extra_args: Sequence[str] = (),
    log_path: Path | None = None,
    startup_timeout_s: float = 90.0,
) -> Iterator[str]:
    """Run ``dagster-webserver`` until the block ends; yields its base URL.

    ``dagster_home`` becomes ``DAGSTER_HOME``; give it a ``dagster.yaml`` first (see
    :func:`write_instance_yaml`) unless the default instance is what the test wants. ``env``
    is added to this process's environment. Loads ``workspace`` if given, else ``module``.
    The block is entered only once the code location has loaded, so the first GraphQL call
    of a test already sees the jobs.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = log_path or dagster_home / "webserver.log"
    target = ["-w", str(workspace)] if workspace is not None else ["-m", str(module)]
    command = [str(WEBSERVER_BIN), "-h", "127.0.0.1", "-p", str(port), *target, *extra_args]
    full_env = {
        **os.environ,
        **QUICK_GRPC_SHUTDOWN,
        "DAGSTER_HOME": str(dagster_home),
        **(env or {}),
    }
    full_env.pop("DAGSTER_WEBSERVER_PORT", None)

    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=full_env,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + startup_timeout_s
        while True:
            if proc.poll() is not None:
                raise AssertionError(
                    f"dagster-webserver exited with {proc.returncode}:\n{log_path.read_text()}"
                )
            try:
                with urllib.request.urlopen(url + "/server_info", timeout=2) as response:
                    if response.status == 200 and _locations_loaded(url):
                        break
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"dagster-webserver not ready after {startup_timeout_s:.0f}s:\n"
                    + log_path.read_text()
                )
            time.sleep(0.25)
        yield url
    finally:
        stragglers = _stop_group(proc)
    assert not stragglers, f"processes left after stopping dagster-webserver: {stragglers}"
    assert port_is_free(port), f"port {port} still bound after dagster-webserver stopped"
