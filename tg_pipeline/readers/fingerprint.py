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
from collections.abc import Iterable, Iterator
from pathlib import Path

CHUNK_SIZE = 1 << 20

_DOMAIN = b"tg_pipeline dump fingerprint v1\n"


class FileDigest:
    """Size and SHA-256 of one content file, fed in chunks as it streams past."""

    __slots__ = ("_sha", "size")

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self._sha.update(chunk)
        self.size += len(chunk)

    def hexdigest(self) -> str:
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


def fingerprint_files(paths: Iterable[Path]) -> str:
    """The fingerprint of content files on disk, given in read order."""
    digests = []
    for path in paths:
        digest = FileDigest()
        for chunk in iter_chunks(path):
            digest.update(chunk)
        digests.append(digest)
    return combine(digests)
