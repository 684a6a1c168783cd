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

    ``new + updated + unchanged + duplicates == rows``: a key the dump holds twice counts
    once as new, updated or unchanged and its other occurrences as duplicates, the first few
    described in ``duplicates_shown`` with every place the dump holds them. ``rekeyed`` maps
    a surrogate chat id to the real id its messages moved to during this ingest.
    """

    new: int
    updated: int
    unchanged: int
    rows: int
    chats: list[int]
    senders: list[str]
    rekeyed: dict[int, int] = field(default_factory=dict)
    duplicates: int = 0
    duplicates_shown: tuple[str, ...] = ()


@dataclass(frozen=True)
class CountSnapshot:
    """One changed row of ``user_message_counts``; ``message_count == 0`` means it is gone."""

    chat_id: int
    sender_key: str
    sender_name: str | None
    message_count: int
    first_message_at: datetime
    last_message_at: datetime


@dataclass(frozen=True)
class Deletion:
    """What a delete did: the messages it removed and the count rows that changed."""

    deleted: int
    count_changes: list[CountSnapshot]


@dataclass(frozen=True)
class PendingCount(CountSnapshot):
    """A count change whose event has not reached the events outbox yet."""

    #: Which refresh made the change; part of the event's identity.
    version: int
    changed_at: datetime
