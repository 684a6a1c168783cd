"""The worker processes the parallel readers fan out to.

Both readers fork their workers from a clean fork server whenever this process runs
other threads (a Dagster run, the ingest's prefetch thread, a web server): forking a
process with threads can copy a lock another thread holds. The server imports the
readers once, so each worker starts with them loaded and shares those pages.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from multiprocessing import forkserver
from multiprocessing.context import BaseContext
from pathlib import Path

#: Imported by the fork server before it forks anything. The first one makes the server,
#: and so every worker it forks, ignore Ctrl-C: the process that owns the pool cancels.
PRELOAD = [
    "tg_pipeline.ignore_interrupts",
    "tg_pipeline.readers.json_export",
    "tg_pipeline.readers.html_export",
]

#: A file smaller than this is read on one core: starting workers would cost more than
#: they save. A dump this big gets its workers prepared while it is staged.
PARALLEL_DUMP_BYTES = 64 << 20


def pool_context() -> BaseContext:
    """fork when this process is single-threaded (fast start); otherwise the fork server."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        return context
    return multiprocessing.get_context("spawn")


def watch_owner(owner_pid: int) -> None:
    """Pool initializer: a worker ends when the process that owns its pool is gone (killed
    with ``kill -9``, say), instead of living on as an orphan holding its memory."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            try:
                os.kill(owner_pid, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:
                pass

    threading.Thread(target=watch, name="owner-watch", daemon=True).start()


def start_early() -> None:
    """Start the fork server now, so its imports run while the caller does other work.

    The ingest calls this before it copies and fingerprints a dump: the reader's pool
    then finds the server ready instead of waiting for it. A platform without a fork
    server, or one that refuses to start it, just starts its pool later as usual.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return
    multiprocessing.get_context("forkserver").set_forkserver_preload(PRELOAD)
    try:
        forkserver.ensure_running()
    except OSError:
        return


def start_early_for(source: Path) -> None:
    """:func:`start_early` when ``source`` (a file, or a folder's top-level files) is big
    enough to be read in parallel; a small dump is read on one core and needs no server."""
    try:
        if source.is_dir():
            with os.scandir(source) as entries:
                size = sum(e.stat().st_size for e in entries if e.is_file())
        else:
            size = source.stat().st_size
    except OSError:
        return
    if size >= PARALLEL_DUMP_BYTES:
        start_early()
