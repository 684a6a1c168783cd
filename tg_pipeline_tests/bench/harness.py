"""Running one measurement in a fresh process, and printing the results table.

Peak memory is the larger of two figures sampled from ``/proc`` while the measured process
group runs: the summed PSS of all its processes, and the largest ``VmHWM`` (peak RSS) of
any one of them, which the measured process also reports itself at its end (see
:func:`emit`), so a peak between two samples is not lost. ``ru_maxrss`` from ``wait4`` is
not used: Linux carries the parent's peak over ``fork`` and ``exec``, so every child of
the bench would report at least the bench's own size.

CPU time is the user + system seconds of the whole process tree: the bench process is
made a child subreaper, so a worker or fork server that outlives the measured process is
handed to the bench and reaped by it, and ``RUSAGE_CHILDREN`` then counts every process
the measurement started. On a shared machine it is the figure that load moves least.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tg_pipeline_tests.bench import Measurement


@dataclass(frozen=True)
class ChildRun:
    """What a measured child process reported on stdout (one JSON object) and cost."""

    report: dict[str, Any]
    wall_seconds: float
    peak_rss_mb: float
    #: User + system seconds of every process of the run (see the module's docstring).
    cpu_seconds: float = 0.0


#: The key under which a measured process reports its own peak RSS in kB.
OWN_PEAK_KEY = "own_peak_kb"


class ChildFailed(RuntimeError):
    pass


def run_child(module: str, args: Sequence[str]) -> ChildRun:
    """Run ``python -m module args…``, which must print one JSON object as its last line."""
    return run_command([sys.executable, "-m", module, *args])


def run_command(command: Sequence[str]) -> ChildRun:
    """Run ``command`` (any interpreter), measured as :func:`run_child` measures."""
    _become_subreaper()
    # A process of an earlier run that ended only after it was given up on is not
    # charged to this one.
    _reap_finished()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, start_new_session=True)
    sampler = _GroupMemory(process.pid)
    sampler.start()
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, _ = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    _reap_group(process.pid)
    sampler.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    process.returncode = os.waitstatus_to_exitcode(status)
    process.stdout.close()
    if process.returncode != 0:
        raise ChildFailed(f"{' '.join(command)} exited with {process.returncode}")
    lines = [line for line in output.splitlines() if line.strip()]
    if not lines:
        raise ChildFailed(f"{' '.join(command)} printed no report")
    report = json.loads(lines[-1])
    own_kb = int(report.get(OWN_PEAK_KEY, 0))
    peak_mb = max(sampler.peak_kb, sampler.peak_single_kb, own_kb) / 1024
    return ChildRun(report, wall, peak_mb, cpu)


#: ``prctl`` option: orphaned descendants are reparented to this process, not to init.
_PR_SET_CHILD_SUBREAPER = 36
#: How long processes of a finished run (a fork server ending) are waited for; a niced
#: run on a busy machine can take tens of seconds to finish exiting.
_REAP_SECONDS = 180.0


def _become_subreaper() -> None:
    """Make this process the subreaper of what it starts (Linux); elsewhere CPU time then
    counts only the processes the measured one waited for itself."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _reap_group(pgid: int) -> None:
    """Wait until no process of the run's process group is left, reaping those handed to
    this process, so that their CPU time is counted."""
    deadline = time.monotonic() + _REAP_SECONDS
    while True:
        _reap_finished()
        if not _group_members(pgid) or time.monotonic() > deadline:
            _reap_finished()
            return
        time.sleep(0.02)


def _reap_finished() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
        except (OSError, ValueError, IndexError):
            continue
        # A zombie still in the group is about to be reaped; it is not running.
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


class _GroupMemory(threading.Thread):
    """Peak of the summed PSS of every process in the child's process group, and the
    largest peak RSS (``VmHWM``) of any one of them.

    One process's peak alone would make readers that fan out to worker processes look
    smaller than they are. PSS splits shared pages between the processes that share them,
    so the sum counts each page once.
    """

    def __init__(self, pgid: int, every_s: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pgid = pgid
        self.every_s = every_s
        self.peak_kb = 0
        self.peak_single_kb = 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            self.peak_kb = max(self.peak_kb, self._sample())
            self._done.wait(self.every_s)

    def stop(self) -> None:
        self._done.set()
        self.join()

    def _sample(self) -> int:
        total = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                if int(stat[stat.rindex(")") + 2 :].split()[2]) != self.pgid:
                    continue
                for line in (entry / "smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
                self.peak_single_kb = max(self.peak_single_kb, own_peak_kb(entry / "status"))
            except (OSError, ValueError, IndexError):
                continue
        return total


def own_peak_kb(status: Path = Path("/proc/self/status")) -> int:
    """A process's peak RSS (``VmHWM``) in kB; 0 where ``/proc`` does not say."""
    try:
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def emit(report: dict[str, Any]) -> None:
    """Child side: print the report, with the process's own peak RSS, for :func:`run_child`."""
    sys.stdout.write(json.dumps({**report, OWN_PEAK_KEY: own_peak_kb()}) + "\n")
    sys.stdout.flush()


def _rate(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:.2f}M"
    if value >= 1_000:
        return f"{value / 1_000:.1f}k"
    return f"{value:.0f}"


def format_table(measurements: Sequence[Measurement]) -> str:
    """The results as an aligned text table, one line per measurement, notes underneath."""
    header = ("section", "benchmark", "items", "seconds", "items/s", "peak RSS", "goal", "")
    rows = [header]
    for m in measurements:
        status = "" if m.met is None else ("OK" if m.met else "MISSED")
        rss = f"{m.peak_rss_mb:.0f} MB" if m.peak_rss_mb is not None else "-"
        rows.append(
            (
                m.section,
                m.name,
                f"{m.items:,}",
                f"{m.seconds:.2f}",
                _rate(m.rate),
                rss,
                m.goal,
                status,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    right = {2, 3, 4, 5}
    lines = []
    for index, row in enumerate(rows):
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = [f"  {m.section}/{m.name}: {note}" for m in measurements for note in _notes_of(m)]
    if notes:
        lines.append("")
        lines.extend(notes)
    return "\n".join(lines)


def _notes_of(m: Measurement) -> list[str]:
    if not m.cpu_seconds or not m.items:
        return m.notes
    per_million = m.cpu_seconds * 1_000_000 / m.items
    return [
        *m.notes,
        f"CPU {m.cpu_seconds:.1f} s user+sys over all its processes "
        f"({per_million:.1f} CPU-s per 1M items)",
    ]
