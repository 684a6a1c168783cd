"""The inbox sensor's cursor: what it last saw of each inbox entry. Imports no Dagster.

Serialized as ``{"v": 2, "entries": {name: [size, newest mtime_ns, file count]}}``, with the
fingerprint appended to an entry's list once a run was requested for it: plain lists keep
the cursor of a 10,000-entry inbox quick to load and to write.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

CURSOR_VERSION = 2


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """One inbox entry as last seen: its signature, and its fingerprint once requested."""

    size: int
    mtime_ns: int
    files: int
    #: Set once a run was requested for the entry; None while it settles.
    fingerprint: str | None = None

    @property
    def requested(self) -> bool:
        return self.fingerprint is not None

    def same_signature(self, size: int, mtime_ns: int, files: int) -> bool:
        return self.size == size and self.mtime_ns == mtime_ns and self.files == files

    def to_json(self) -> list[Any]:
        if self.fingerprint is None:
            return [self.size, self.mtime_ns, self.files]
        return [self.size, self.mtime_ns, self.files, self.fingerprint]

    @classmethod
    def from_json(cls, value: Any) -> InboxEntry | None:
        """The entry a cursor list holds; None for anything else (which is then seen anew)."""
        if isinstance(value, list) and 3 <= len(value) <= 4:
            return cls(*value)
        return None


def load_cursor(cursor: str | None) -> dict[str, InboxEntry]:
    """The entries of a cursor string; empty for no cursor or one of another version."""
    if not cursor:
        return {}
    try:
        data = json.loads(cursor)
    except ValueError:
        return {}
    if not isinstance(data, dict) or data.get("v") != CURSOR_VERSION:
        return {}
    raw = data.get("entries")
    if not isinstance(raw, dict):
        return {}
    entries: dict[str, InboxEntry] = {}
    for name, value in raw.items():
        entry = InboxEntry.from_json(value)
        if entry is not None:
            entries[name] = entry
    return entries


def dump_cursor(entries: dict[str, InboxEntry]) -> str:
    serialized = {name: entry.to_json() for name, entry in entries.items()}
    return json.dumps({"v": CURSOR_VERSION, "entries": serialized}, separators=(",", ":"))
