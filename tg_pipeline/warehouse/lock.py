"""Who may write the warehouse: an OS file lock beside the DuckDB file.

Every writing run holds ``<warehouse>.lock`` (``flock``) for the length of its warehouse
work, and writes ``<warehouse>.holder.json`` (run, pid, host, command, since) so that
whoever waits, and ``tg-pipeline status``, can name it. The kernel drops the lock when the
holder's process ends, however it ends (Ctrl-C, ``kill -9``, the OOM killer, a container
restart), so a dead writer never blocks the next one; a holder record left behind by a
dead process is recognised as stale because nobody holds the lock.

Within one process the lock is re-entrant per thread: a Dagster run takes it when it starts
and each of its steps opens the warehouse under it without waiting for itself.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from tg_pipeline.errors import WarehouseBusy

LOCK_SUFFIX = ".lock"
HOLDER_SUFFIX = ".holder.json"
#: Left by earlier versions while a writer had the file open; it named holders that could
#: be long dead, so it is removed wherever it is found.
LEGACY_OWNER_SUFFIX = ".owner.json"


def lock_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + LOCK_SUFFIX)


def holder_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + HOLDER_SUFFIX)


@dataclass(frozen=True)
class Holder:
    """Who holds (or last held) the warehouse, and whether that process still holds it."""

    pid: int | None
    host: str | None
    run_id: str | None
    owner: str | None
    command: str | None
    since: str | None
    alive: bool

    def describe(self) -> str:
        parts = []
        if self.run_id:
            parts.append(f"run {self.run_id}")
        elif self.owner:
            parts.append(self.owner)
        if self.pid is not None:
            parts.append(f"pid {self.pid}")
        if self.command:
            parts.append(f"command {self.command!r}")
        if self.since:
            parts.append(f"since {self.since}")
        return ", ".join(parts) or "another process"


class _Held:
    """This process's hold on one warehouse lock: the open file and who re-entered it."""

    def __init__(self) -> None:
        self.guard = threading.RLock()
        self.fd: int | None = None
        self.depth = 0


_HELD: dict[Path, _Held] = {}
_HELD_GUARD = threading.Lock()


def _held_for(warehouse: Path) -> _Held:
    key = warehouse.resolve()
    with _HELD_GUARD:
        return _HELD.setdefault(key, _Held())


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def read_holder(warehouse: Path) -> Holder | None:
    """The recorded holder, with ``alive`` true only while some process holds the lock.

    None when no holder record exists (nobody holds it, or it was never written)."""
    warehouse = Path(warehouse)
    info: dict[str, Any] = {}
    with contextlib.suppress(OSError, orjson.JSONDecodeError):
        info = orjson.loads(holder_path(warehouse).read_bytes())
    if not isinstance(info, dict) or not info:
        return None
    return Holder(
        pid=info.get("pid") if isinstance(info.get("pid"), int) else None,
        host=info.get("host"),
        run_id=info.get("run_id"),
        owner=info.get("owner"),
        command=info.get("command"),
        since=info.get("since"),
        alive=is_locked(warehouse),
    )


def is_locked(warehouse: Path) -> bool:
    """Whether some process (this one included) holds the warehouse lock right now."""
    warehouse = Path(warehouse)
    held = _held_for(warehouse)
    if held.fd is not None:
        return True
    try:
        fd = os.open(lock_path(warehouse), os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        if _try_flock(fd):
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        return True
    finally:
        os.close(fd)


def _write_holder(warehouse: Path, run_id: str | None, owner: str | None) -> None:
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "run_id": run_id,
        "owner": owner,
        "command": " ".join(sys.argv)[:300],
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    target = holder_path(warehouse)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    tmp.write_bytes(orjson.dumps(info))
    os.replace(tmp, target)
    with contextlib.suppress(OSError):
        warehouse.with_name(warehouse.name + LEGACY_OWNER_SUFFIX).unlink()


@contextlib.contextmanager
def hold_warehouse(
    warehouse: Path,
    *,
    run_id: str | None = None,
    owner: str | None = None,
    wait_s: float | None = None,
    on_wait: Callable[[Holder | None], None] | None = None,
    poll_s: float = 0.1,
) -> Iterator[None]:
    """Hold the warehouse's write lock for the ``with`` block.

    Waits for a live holder (for ever when ``wait_s`` is None, else raising
    :class:`WarehouseBusy` after ``wait_s`` seconds); ``on_wait`` is told once who it is
    waiting for. Re-entering from the thread that holds it returns at once.
    """
    warehouse = Path(warehouse)
    held = _held_for(warehouse)
    deadline = None if wait_s is None else time.monotonic() + max(wait_s, 0.0)
    # Another thread of this process may hold it: wait for that thread like for a process.
    while not held.guard.acquire(timeout=poll_s):
        if deadline is not None and time.monotonic() >= deadline:
            raise _busy(warehouse, wait_s)
    try:
        if held.depth > 0:
            held.depth += 1
            try:
                yield
            finally:
                held.depth -= 1
            return
        warehouse.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path(warehouse), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            told = False
            while not _try_flock(fd):
                if deadline is not None and time.monotonic() >= deadline:
                    raise _busy(warehouse, wait_s)
                if not told and on_wait is not None:
                    on_wait(read_holder(warehouse))
                    told = True
                time.sleep(poll_s)
            _write_holder(warehouse, run_id, owner)
            held.fd, held.depth = fd, 1
            try:
                yield
            finally:
                held.fd, held.depth = None, 0
                # Remove the record while still holding the lock, so that nobody reads a
                # record of the next holder's and deletes it.
                with contextlib.suppress(OSError):
                    holder_path(warehouse).unlink()
        finally:
            os.close(fd)  # closing the descriptor drops the flock
    finally:
        held.guard.release()


def _busy(warehouse: Path, wait_s: float | None) -> WarehouseBusy:
    holder = read_holder(warehouse)
    who = holder.describe() if holder is not None and holder.alive else "another process"
    return WarehouseBusy(
        f"warehouse {warehouse} is busy (held by {who}); waited {wait_s or 0:g}s. "
        "Try again when that run has finished."
    )
