"""Whether the process of a run is still there, told by the kernel rather than by a pid.

A run's process holds an ``flock`` on ``<data dir>/run_processes/<run id>.alive`` for as
long as it runs. When the process ends normally it removes the file; when it is killed the
file stays, and nobody holds its lock any more: that is how a run left ``STARTED`` by a dead
process is told apart from a run that is merely slow (a pid can be reused; a lock cannot
outlive its holder).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import orjson

SUFFIX = ".alive"

_HELD: dict[str, tuple[int, int]] = {}  # run id -> (descriptor, depth)
_GUARD = threading.Lock()


def markers_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "run_processes"


def marker_path(data_dir: Path, run_id: str) -> Path:
    return markers_dir(data_dir) / f"{run_id}{SUFFIX}"


@contextlib.contextmanager
def run_alive(data_dir: Path, run_id: str) -> Iterator[None]:
    """Mark ``run_id`` as running in this process for the ``with`` block (re-entrant)."""
    with _GUARD:
        if run_id in _HELD:
            fd, depth = _HELD[run_id]
            _HELD[run_id] = (fd, depth + 1)
            nested = True
        else:
            nested = False
    if nested:
        try:
            yield
        finally:
            with _GUARD:
                fd, depth = _HELD[run_id]
                _HELD[run_id] = (fd, depth - 1)
        return
    final = marker_path(data_dir, run_id)
    final.parent.mkdir(parents=True, exist_ok=True)
    # Locked under a temporary name and then renamed, so nobody ever sees the marker
    # unlocked while its process lives.
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, orjson.dumps({"run_id": run_id, "pid": os.getpid()}))
        os.replace(tmp, final)
        with _GUARD:
            _HELD[run_id] = (fd, 1)
        try:
            yield
        except BaseException:
            # Left in place (unlocked once the descriptor closes): if the run could not be
            # marked ended on the way out, the next sweep ends it.
            with _GUARD:
                _HELD.pop(run_id, None)
            raise
        with _GUARD:
            _HELD.pop(run_id, None)
        with contextlib.suppress(OSError):
            final.unlink()
    finally:
        os.close(fd)


def process_gone(data_dir: Path, run_id: str) -> bool:
    """True when ``run_id`` had a process here that has ended without finishing the run.

    False while it runs, and when nothing is known (no marker: the run never reached its
    first step here, or ended normally)."""
    path = marker_path(data_dir, run_id)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        # A marker its process removed while ending normally is not a death.
        gone = os.fstat(fd).st_nlink > 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return gone
    finally:
        os.close(fd)


def gone_runs(data_dir: Path) -> list[str]:
    """The runs whose marker is still here while their process is not (a quick scan of one
    small folder; nothing is read from Dagster)."""
    try:
        names = [e.name for e in os.scandir(markers_dir(data_dir)) if e.name.endswith(SUFFIX)]
    except OSError:
        return []
    run_ids = [name[: -len(SUFFIX)] for name in names if not name.startswith(".")]
    return [run_id for run_id in run_ids if process_gone(data_dir, run_id)]


def marker_pid(data_dir: Path, run_id: str) -> int | None:
    with contextlib.suppress(OSError, orjson.JSONDecodeError, AttributeError):
        pid = orjson.loads(marker_path(data_dir, run_id).read_bytes()).get("pid")
        return pid if isinstance(pid, int) else None
    return None


def forget(data_dir: Path, run_id: str) -> None:
    with contextlib.suppress(OSError):
        marker_path(data_dir, run_id).unlink()
