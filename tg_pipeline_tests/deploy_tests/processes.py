"""Start the deployment's processes the way compose does, and make sure none outlives a test."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tg_pipeline_tests.webserver import QUICK_GRPC_SHUTDOWN, _stop_group, port_is_free


@dataclass
class ServiceGroup:
    """Every process a test started, each in its own session so its children go with it."""

    log_dir: Path
    env: Mapping[str, str]
    cwd: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ports: list[int] = field(default_factory=list)

    def start(self, name: str, command: Sequence[str], *, ports: Sequence[int] = ()) -> None:
        log = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115
        with log:
            self.procs[name] = subprocess.Popen(
                list(command),
                cwd=self.cwd,
                env={**os.environ, **QUICK_GRPC_SHUTDOWN, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.ports.extend(ports)

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace")[-6000:] if path.exists() else ""

    def logs(self) -> str:
        return "\n".join(f"--- {name} ---\n{self.log(name)}" for name in self.procs)

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode}:\n{self.log(name)}")

    def wait_for(
        self, what: str, predicate: Callable[[], object], timeout_s: float, every_s: float = 0.5
    ) -> object:
        deadline = time.monotonic() + timeout_s
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                value = predicate()
            except AssertionError:
                raise
            except Exception as exc:  # the service is not up yet
                last_error = exc
                value = None
            if value:
                return value
            time.sleep(every_s)
        raise AssertionError(f"timed out waiting for {what} ({last_error})\n{self.logs()}")

    def stop_all(self) -> list[str]:
        """Stop in reverse start order; return what had to be killed or is still bound."""
        problems: list[str] = []
        for name, proc in reversed(list(self.procs.items())):
            stragglers = _stop_group(proc)
            problems.extend(f"{name}: {s}" for s in stragglers)
        deadline = time.monotonic() + 10
        busy = [p for p in self.ports if not port_is_free(p)]
        while busy and time.monotonic() < deadline:
            time.sleep(0.2)
            busy = [p for p in self.ports if not port_is_free(p)]
        problems.extend(f"port {p} still bound" for p in busy)
        return problems
