"""Content fingerprints: how the pipeline knows it has seen a dump before.

The fingerprint covers the dump's content files only (``result.json``, the
``messages*.html`` pages, or the backup file), in read order, each as its size and SHA-256.
Names, folders and media are not part of it. So the same export dropped as a folder, as a
``.zip`` of that folder, or as a renamed bare ``result.json`` has one fingerprint, and a
dump is ingested once however it arrives. Page order is part of it, because for HTML the
order is part of the content.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

CHUNK_SIZE = 1 << 20

#: A file this big is hashed on a second thread from here on. SHA-256 releases the GIL on
#: large chunks, so a check that validates the bytes while they are hashed takes the
#: longer of the two instead of their sum; for small files a thread costs more than it saves.
BACKGROUND_AFTER = 8 << 20

_DOMAIN = b"tg_pipeline dump fingerprint v1\n"


class FileDigest:
    """Size and SHA-256 of one content file, fed in chunks as it streams past.

    With ``background``, a large file is hashed on a second thread (see
    :data:`BACKGROUND_AFTER`); :meth:`close` must then be called on every path, and
    :meth:`hexdigest` waits for the thread to finish.
    """

    __slots__ = ("_background", "_chunks", "_sha", "_thread", "size")

    def __init__(self, *, background: bool = False) -> None:
        self._sha = hashlib.sha256()
        self.size = 0
        self._background = background
        self._chunks: queue.Queue[bytes | None] | None = None
        self._thread: threading.Thread | None = None

    def update(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self._chunks is not None:
            self._chunks.put(chunk)
            return
        self._sha.update(chunk)
        if self._background and self.size >= BACKGROUND_AFTER:
            self._chunks = queue.Queue(maxsize=8)
            self._thread = threading.Thread(
                target=self._hash_queued, args=(self._chunks,), name="tg-digest", daemon=True
            )
            self._thread.start()

    def _hash_queued(self, chunks: queue.Queue[bytes | None]) -> None:
        while (chunk := chunks.get()) is not None:
            self._sha.update(chunk)

    def close(self) -> None:
        """Let the hashing thread finish what it was given and stop."""
        if self._thread is not None and self._chunks is not None:
            self._chunks.put(None)
            self._thread.join()
        self._thread = self._chunks = None

    def hexdigest(self) -> str:
        self.close()
        return self._sha.hexdigest()


def combine(digests: Iterable[FileDigest]) -> str:
    """One hex fingerprint from the files' digests, in read order.

    Each file enters as ``"<size> <sha256>\\n"``, so no two different file lists can give
    the same input to the outer hash.
    """
    outer = hashlib.sha256(_DOMAIN)
    for digest in digests:
        outer.update(f"{digest.size} {digest.hexdigest()}\n".encode())
    return outer.hexdigest()


def iter_chunks(path: Path, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """A file's bytes in fixed-size chunks: memory stays flat whatever the file size."""
    with path.open("rb") as fh:
        while chunk := fh.read(chunk_size):
            yield chunk
