"""Names: a dump's id from its inbox name and fingerprint, and free names to move to."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

FINGERPRINT_PREFIX = 12

_SLUG_BAD = re.compile(r"[^A-Za-z0-9._-]+")
_SLUG_DOTS = re.compile(r"\.{2,}")


def dump_id_for(name: str, fingerprint: str) -> str:
    """A dump id a person can read: the inbox name, then the fingerprint's first 12 digits.

    Only the fingerprint part identifies content; the name part is there so the partition
    list in the UI says which drop each partition came from.
    """
    slug = _SLUG_DOTS.sub(".", _SLUG_BAD.sub("_", name)).strip("._-")[:60] or "dump"
    return f"{slug}-{fingerprint[:FINGERPRINT_PREFIX]}"


def fingerprint_prefix(dump_id: str) -> str:
    return dump_id.rsplit("-", 1)[-1]


def unique_destination(directory: Path, name: str, dump_id: str | None) -> Path:
    """``name`` in ``directory``, or a variant tagged with the fingerprint, never overwriting."""
    candidate = directory / name
    if not _taken(candidate):
        return candidate
    stem, dot, suffix = name.partition(".")
    tag = fingerprint_prefix(dump_id) if dump_id else datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    for n in range(1000):
        extra = tag if n == 0 else f"{tag}-{n}"
        candidate = directory / (f"{stem}.{extra}{dot}{suffix}" if dot else f"{stem}.{extra}")
        if not _taken(candidate):
            return candidate
    raise FileExistsError(f"no free name for {name} in {directory}")


def _taken(path: Path) -> bool:
    return path.exists() or path.with_name(path.name + ".error.txt").exists()
