"""How far the readers got through the files they read, for progress reports.

A reader notes the bytes of a file it has consumed as it goes (the JSON reader after
each chunk it parses, or each piece it hands on); whoever reports progress (the ingest
path, in the same process) reads the notes. One result.json then shows progress within
the file instead of jumping from 0 to 100% when it is done.
"""

from __future__ import annotations

import os
import threading

_lock = threading.Lock()
_read: dict[str, int] = {}


def note_bytes(path: str | os.PathLike[str], done: int) -> None:
    """``done`` bytes of ``path`` have been read (and their records handed on)."""
    with _lock:
        _read[os.fspath(path)] = done


def bytes_read(path: str | os.PathLike[str]) -> int:
    """The bytes of ``path`` read so far, 0 when no reader noted any."""
    with _lock:
        return _read.get(os.fspath(path), 0)


def forget(path: str | os.PathLike[str]) -> None:
    with _lock:
        _read.pop(os.fspath(path), None)
