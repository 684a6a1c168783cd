"""Plain values that cross the warehouse boundary: what a dump is, what an ingest did."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class DumpRecord:
    """A dump as the caller identified it; stored in ``dumps`` whatever the outcome."""

    dump_id: str
    kind: str
    fingerprint: str
    source: str
    files: list[str]


@dataclass(frozen=True)
class IngestResult:
    """What one ingest changed, counted per record of the dump.

    ``new + updated + unchanged == rows``; a key the dump holds twice counts once as new or
    updated and its other occurrences as unchanged. ``rekeyed`` maps a surrogate chat id
    to the real id its messages moved to during this ingest.
    """

    new: int
    updated: int
    unchanged: int
    rows: int
    chats: list[int]
    senders: list[str]
    rekeyed: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class CountSnapshot:
    """One changed row of ``user_message_counts``; ``message_count == 0`` means it is gone."""

    chat_id: int
    sender_key: str
    sender_name: str | None
    message_count: int
    first_message_at: datetime
    last_message_at: datetime
