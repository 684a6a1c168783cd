"""The raw copy: a content file written to the staging folder while it is checked, by the
kernel where it can, or hard-linked when the file is ours alone.

Imports only the other detection modules of the readers package.
"""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

from tg_pipeline.errors import DumpError
from tg_pipeline.readers.content_check import check_file, unreadable
from tg_pipeline.readers.fingerprint import CHUNK_SIZE, FileDigest
from tg_pipeline.readers.formats import Format
from tg_pipeline.readers.sniff import SNIFF_BYTES, sniff_content


def check_and_copy(path: Path, target: Path, fmt: Format, *, link: bool = False) -> FileDigest:
    """:func:`check_file` that also leaves the bytes it checked at ``target``.

    The kernel copies the file on a second thread while this one checks and hashes it, so
    no byte passes through Python twice (copying a large export through Python's buffers
    cost more than checking it) and staging takes the longer of the two, not their sum.
    The source's size and modification time must be the same after both as before, so
    the fingerprint describes the bytes kept; a file still being written is refused. Its
    head is sniffed first: a file of the wrong kind is refused before anything is copied.

    With ``link``, a file of ours with no other name is hard-linked to ``target`` instead:
    the bytes are then written once, not twice, which for a large export is most of what
    staging costs, and half the disk it takes. A file someone else still reaches by
    another name, owns, or keeps on another file system is copied as before.

    Only a failure to read the source is the dump's fault (a DumpError); one writing the
    copy (a full disk) is raised as it is, so the dump is not quarantined for it.
    """
    display = str(path)
    try:
        source = path.open("rb")
    except OSError as exc:
        raise unreadable(path, exc) from None
    with source:
        try:
            before = os.fstat(source.fileno())
            head = source.read(SNIFF_BYTES)
        except OSError as exc:
            raise unreadable(path, exc) from None
        sniff_content(fmt, head, len(head) < SNIFF_BYTES, display)
        target.parent.mkdir(parents=True, exist_ok=True)
        if link and _ours_alone(before) and _hard_link(path, target):
            digest = check_file(path, fmt, display)
            copied = os.stat(target).st_size
        else:
            with target.open("xb") as out:
                copy = _CopyThread(source.fileno(), out.fileno(), path)
                try:
                    digest = check_file(path, fmt, display)
                except BaseException:
                    # The dump's own error wins over whatever the copy ran into meanwhile.
                    copy.finish(cancel=True)
                    raise
                copy.finish()
                copied = os.fstat(out.fileno()).st_size
        try:
            after = os.stat(path)
        except OSError as exc:
            raise unreadable(path, exc) from None
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns) or not (
        digest.size == copied == after.st_size
    ):
        raise DumpError(
            "the file changed while it was being copied; drop it again once it is complete",
            file=path,
        )
    return digest


def _ours_alone(info: os.stat_result) -> bool:
    """Whether a file may become the raw copy: no other name reaches it, and this process
    owns it, so it can seal it read-only."""
    return info.st_nlink == 1 and info.st_uid == os.geteuid()


def _hard_link(path: Path, target: Path) -> bool:
    """Whether ``target`` now names ``path``'s bytes; False where a link cannot be made
    (another file system, a file system without links), so the caller copies instead."""
    try:
        os.link(path, target)
    except OSError:
        return False
    return True


class _CopyThread:
    """:func:`copy_file_bytes` on a thread of its own; :meth:`finish` waits for it and
    raises what it raised. ``copy_file_range`` releases the GIL for the whole copy."""

    def __init__(self, source_fd: int, target_fd: int, path: Path) -> None:
        self._failure: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(source_fd, target_fd, path), name="tg-raw-copy"
        )
        self._thread.start()

    def _run(self, source_fd: int, target_fd: int, path: Path) -> None:
        try:
            copy_file_bytes(source_fd, target_fd, path, stop=self._stop)
        except BaseException as exc:
            self._failure = exc

    def finish(self, *, cancel: bool = False) -> None:
        """Wait for the copy; with ``cancel``, stop it early and keep quiet about it."""
        if cancel:
            self._stop.set()
        self._thread.join()
        if self._failure is not None and not cancel:
            raise self._failure


#: errno values that say the kernel cannot copy between these two files; the bytes then go
#: through a buffer instead.
_NO_KERNEL_COPY = frozenset(
    {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EBADF}
)
#: Bytes per kernel copy call: a copy asked to stop does so within one step.
_COPY_STEP = 64 << 20
#: errno values that are the destination's fault (the warehouse's disk), not the dump's.
_WRITE_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


def copy_file_bytes(
    source_fd: int, target_fd: int, path: Path, *, stop: threading.Event | None = None
) -> None:
    """Copy the whole file behind ``source_fd`` to ``target_fd``, in the kernel where it can.

    ``copy_file_range`` never brings the bytes into this process (and clones them on file
    systems that can). A file system that refuses it, or ends the copy short of the size
    the file had (some pseudo and network file systems do), gets the rest through a
    buffer. Read errors raise DumpError naming ``path``; write errors are raised as they are.
    Once ``stop`` is set the copy ends early, between two steps of :data:`_COPY_STEP`.
    """
    size = os.fstat(source_fd).st_size
    done = 0
    kernel = hasattr(os, "copy_file_range")
    while kernel:
        if stop is not None and stop.is_set():
            return
        try:
            copied = os.copy_file_range(source_fd, target_fd, _COPY_STEP, done)
        except OSError as exc:
            if exc.errno in _NO_KERNEL_COPY and done == 0:
                break
            if exc.errno in _WRITE_ERRORS:
                raise
            raise unreadable(path, exc) from None
        if copied == 0:
            if done >= size:
                return
            break
        done += copied
    os.lseek(target_fd, done, os.SEEK_SET)
    while stop is None or not stop.is_set():
        try:
            chunk = os.pread(source_fd, CHUNK_SIZE, done)
        except OSError as exc:
            raise unreadable(path, exc) from None
        if not chunk:
            return
        view = memoryview(chunk)
        while view:
            view = view[os.write(target_fd, view) :]
        done += len(chunk)
