"""Writing a backup file safely: hashed as it is written, fsynced, linked into place.

The sha256 is computed as the bytes are written. Files are written under a temporary
name in the destination folder, fsynced, then linked into place (a link never replaces
an existing file). A temporary file's name ends in ``.<pid>.tmp``, so the leftovers of a
process that died while writing can be told from a backup in progress.
"""

from __future__ import annotations

import contextlib
import io
import os
import queue
import threading
from pathlib import Path

from tg_pipeline.errors import TgPipelineError
from tg_pipeline.readers.fingerprint import FileDigest

#: Encoded blocks queued for the writing thread: a few tens of MB at most.
_WRITES_AHEAD = 8
#: Writes smaller than this are gathered into one block before the threads see them.
_HANDOFF_BYTES = 1 << 20
#: Bytes written between requests that the kernel start putting them on disk. Otherwise
#: the whole file waits in the page cache for the fsync at the end, which then takes
#: long, and longer when the disk is busy.
_WRITEBACK_BYTES = 32 << 20


class HashingFile(io.RawIOBase):
    """A write-only file that hashes what passes through, so the checksum needs no
    second read of the file.

    Writing and hashing each run on a thread of their own (both release the GIL), beside
    the encoder that calls :meth:`write`: for a CSV backup each of the three costs about
    as much as the others, and the kernel's share of a large write can be most of it.
    An error writing (a full disk) is raised by the next :meth:`write` or by :meth:`close`.

    Small writes are gathered into blocks of :data:`_HANDOFF_BYTES` first: a Parquet writer
    makes thousands of writes of a few dozen bytes, and handing each to two threads would
    cost more than the threads save.
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._file = path.open("wb")
        self.digest = FileDigest(background=True)
        self._buffer = bytearray()
        self._size = 0
        self._pending: queue.Queue[bytes | None] = queue.Queue(maxsize=_WRITES_AHEAD)
        self._failure: BaseException | None = None
        self._writer = threading.Thread(target=self._write_pending, name="tg-backup-writer")
        self._writer.start()

    def _write_pending(self) -> None:
        written = started = 0
        while (chunk := self._pending.get()) is not None:
            if self._failure is None:
                try:
                    self._file.write(chunk)
                    written += len(chunk)
                    if written - started >= _WRITEBACK_BYTES:
                        self._file.flush()
                        _start_writeback(self._file.fileno(), started, written)
                        started = written
                except BaseException as exc:
                    self._failure = exc

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    @property
    def size(self) -> int:
        return self._size

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._raise_failure()
        size = memoryview(data).nbytes
        if not self._buffer and size >= _HANDOFF_BYTES:
            # The encoder may reuse its buffer once this returns; the threads get a copy.
            self._hand_off(data if isinstance(data, bytes) else bytes(data))
        else:
            self._buffer += data
            if len(self._buffer) >= _HANDOFF_BYTES:
                self._hand_off(bytes(self._buffer))
                self._buffer.clear()
        self._size += size
        return size

    def _hand_off(self, block: bytes) -> None:
        self._pending.put(block)
        self.digest.update(block)

    def tell(self) -> int:
        return self.size

    def _drain(self) -> None:
        if self._writer.is_alive():
            self._pending.put(None)
            self._writer.join()

    def flush(self) -> None:
        self._raise_failure()

    def close(self) -> None:
        try:
            if self._buffer and self._failure is None:
                self._hand_off(bytes(self._buffer))
                self._buffer.clear()
            self._drain()
            if not self._file.closed:
                try:
                    self._raise_failure()
                    self._file.flush()
                    os.fsync(self._file.fileno())
                finally:
                    self._file.close()
        finally:
            self.digest.close()
            super().close()


def _start_writeback(fd: int, start: int, end: int) -> None:
    """Have the kernel start writing ``[start, end)`` out now, without waiting for it.

    On Linux ``POSIX_FADV_DONTNEED`` on pages just written starts their write-back and
    leaves them cached (it drops only clean pages, and these are all dirty), so the check
    that reads the backup back still finds it in memory. Where the call is missing or
    refused, the fsync that ends the file does all the writing.
    """
    advise = getattr(os, "posix_fadvise", None)
    if advise is None:
        return
    with contextlib.suppress(OSError):
        advise(fd, start, end - start, os.POSIX_FADV_DONTNEED)


def place(tmp: Path, final: Path) -> None:
    """Move into place without ever replacing an existing file."""
    try:
        os.link(tmp, final)
    except FileExistsError as exc:
        raise TgPipelineError(f"backup {final} already exists; not overwriting it") from exc
    except OSError:
        if final.exists():
            raise TgPipelineError(f"backup {final} already exists; not overwriting it") from None
        os.rename(tmp, final)
        return
    tmp.unlink()


def fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove_orphan_temp_files(dest_dir: Path) -> list[Path]:
    """Remove the temporary files of backups whose process died while writing them.

    A temporary file's name ends in ``.<pid>.tmp``; it is an orphan once no process has
    that pid (a backup in progress keeps its own)."""
    removed: list[Path] = []
    for path in Path(dest_dir).glob(".*.tmp"):
        pid_text = path.name[: -len(".tmp")].rsplit(".", 1)[-1]
        if not pid_text.isdigit() or int(pid_text) == os.getpid():
            continue
        try:
            os.kill(int(pid_text), 0)
            continue
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        with contextlib.suppress(OSError):
            path.unlink()
            removed.append(path)
    return removed
