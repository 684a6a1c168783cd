"""Durable outbox: events wait here until a broker has acknowledged them.

A run never talks to Kafka directly. It appends its events to a SQLite file next to the
warehouse, so a missing or failing broker can never fail a run or lose an event. SQLite in
WAL mode with a busy timeout lets a sensor and a run append at the same time from different
processes. Rows are marked delivered only from a delivery report, and the cursor (every
event up to it is delivered) only moves forward over delivered rows.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tg_pipeline.errors import TgPipelineError
from tg_pipeline.events.model import encode_event, key_of, stream_of

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Linux/macOS
    fcntl = None  # type: ignore[assignment]

OUTBOX_FILENAME = "outbox.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id     TEXT NOT NULL UNIQUE,
    stream       TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    msg_key      TEXT,
    value        BLOB NOT NULL,
    added_at     REAL NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    delivered_at REAL
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (seq) WHERE delivered_at IS NULL;
CREATE TABLE IF NOT EXISTS relay_state (
    name  TEXT PRIMARY KEY,
    value TEXT
);
"""


@dataclass(frozen=True)
class PendingEvent:
    seq: int
    event_id: str
    stream: str
    key: str | None
    value: bytes


@dataclass(frozen=True)
class Backlog:
    """What waits for the broker; shown in the relay sensor's cursor and the CLI."""

    pending: int
    pending_counts: int
    pending_audit: int
    delivered: int
    cursor: int
    oldest_pending_at: datetime | None
    last_delivery_at: datetime | None
    last_error: str | None
    delivered_counts: int = 0
    delivered_audit: int = 0

    def by_stream(self) -> dict[str, dict[str, int]]:
        """Delivered and waiting events per stream (``counts``, ``audit``)."""
        return {
            "counts": {"delivered": self.delivered_counts, "waiting": self.pending_counts},
            "audit": {"delivered": self.delivered_audit, "waiting": self.pending_audit},
        }

    def summary(self) -> str:
        if not self.pending:
            return f"outbox empty; {self.delivered} delivered, cursor {self.cursor}"
        oldest = (
            self.oldest_pending_at.isoformat(timespec="seconds") if self.oldest_pending_at else "?"
        )
        text = (
            f"{self.pending} events pending ({self.pending_counts} counts, "
            f"{self.pending_audit} audit), oldest from {oldest}; {self.delivered} delivered, "
            f"cursor {self.cursor}"
        )
        return f"{text}; last error: {self.last_error}" if self.last_error else text


class Outbox:
    """One SQLite outbox file. Cheap to construct; every call opens its own connection, so an
    instance may be shared by threads and survives forks."""

    def __init__(self, path: Path | str, *, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        self._ready = False

    @classmethod
    def in_data_dir(cls, data_dir: Path | str) -> Outbox:
        return cls(Path(data_dir) / OUTBOX_FILENAME)

    def __repr__(self) -> str:
        return f"Outbox({str(self.path)!r})"

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        if not self._ready:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
        try:
            con.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            if not self._ready:
                con.execute("PRAGMA journal_mode = WAL")
                con.executescript(_SCHEMA)
                self._ready = True
            yield con
        finally:
            con.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as con:
            if not con.in_transaction:
                con.execute("BEGIN IMMEDIATE")
            try:
                yield con
                con.execute("COMMIT")
            except BaseException as exc:
                # SQLite has already rolled back after some failures (a full disk); a
                # ROLLBACK then would replace the real error with "no transaction is active".
                if con.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        con.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise TgPipelineError(
                        f"cannot write the event outbox {self.path}: {exc}"
                    ) from exc
                raise

    def add(self, events: Iterable[Mapping[str, Any]]) -> int:
        """Append events in one transaction; an event_id already present is ignored.

        Returns how many were new.
        """
        now = time.time()
        rows = []
        for event in events:
            if not event.get("event_id") or not event.get("event_type"):
                raise ValueError("an event needs event_id and event_type")
            rows.append(
                (
                    event["event_id"],
                    stream_of(event),
                    event["event_type"],
                    key_of(event),
                    encode_event(event),
                    now,
                )
            )
        if not rows:
            return 0
        with self._write() as con:
            before = con.total_changes
            con.executemany(
                "INSERT OR IGNORE INTO outbox (event_id, stream, event_type, msg_key, value,"
                " added_at) VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            return con.total_changes - before

    def pending_count(self) -> int:
        with self._connect() as con:
            return con.execute("SELECT count(*) FROM outbox WHERE delivered_at IS NULL").fetchone()[
                0
            ]

    def pending(self, *, limit: int, after_seq: int = 0) -> list[PendingEvent]:
        """Undelivered events in the order they were added."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT seq, event_id, stream, msg_key, value FROM outbox"
                " WHERE delivered_at IS NULL AND seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        return [PendingEvent(r[0], r[1], r[2], r[3], bytes(r[4])) for r in rows]

    def mark_delivered(self, seqs: Iterable[int]) -> int:
        """Record broker acknowledgements and advance the cursor past every delivered row."""
        ranges = _ranges(seqs)
        if not ranges:
            return 0
        now = time.time()
        with self._write() as con:
            before = con.total_changes
            con.executemany(
                "UPDATE outbox SET delivered_at = ?, attempts = attempts + 1"
                " WHERE seq BETWEEN ? AND ? AND delivered_at IS NULL",
                [(now, first, last) for first, last in ranges],
            )
            changed = con.total_changes - before
            self._set(con, "last_delivery_at", repr(now))
            self._set(con, "cursor", str(self._cursor(con)))
            return changed

    def record_failure(self, seqs: Iterable[int], error: str) -> None:
        """Count a failed attempt; the rows stay pending for the next relay pass."""
        with self._write() as con:
            con.executemany(
                "UPDATE outbox SET attempts = attempts + 1 WHERE seq = ? AND delivered_at IS NULL",
                [(s,) for s in seqs],
            )
            self._set(con, "last_error", error)

    def clear_error(self) -> None:
        with self._write() as con:
            con.execute("DELETE FROM relay_state WHERE name = 'last_error'")

    def cursor(self) -> int:
        """Highest seq such that it and every earlier event have been acknowledged."""
        with self._connect() as con:
            return self._cursor(con)

    def backlog(self) -> Backlog:
        with self._connect() as con:
            by_stream = dict(
                con.execute(
                    "SELECT stream, count(*) FROM outbox WHERE delivered_at IS NULL GROUP BY stream"
                ).fetchall()
            )
            delivered_by_stream = dict(
                con.execute(
                    "SELECT stream, count(*) FROM outbox WHERE delivered_at IS NOT NULL"
                    " GROUP BY stream"
                ).fetchall()
            )
            delivered = sum(delivered_by_stream.values())
            oldest = con.execute(
                "SELECT min(added_at) FROM outbox WHERE delivered_at IS NULL"
            ).fetchone()[0]
            state = dict(con.execute("SELECT name, value FROM relay_state").fetchall())
            cursor = self._cursor(con)
        last_delivery = state.get("last_delivery_at")
        return Backlog(
            pending=sum(by_stream.values()),
            pending_counts=by_stream.get("counts", 0),
            pending_audit=by_stream.get("audit", 0),
            delivered=delivered,
            cursor=cursor,
            oldest_pending_at=_from_epoch(oldest),
            last_delivery_at=_from_epoch(float(last_delivery) if last_delivery else None),
            last_error=state.get("last_error"),
            delivered_counts=delivered_by_stream.get("counts", 0),
            delivered_audit=delivered_by_stream.get("audit", 0),
        )

    def prune_delivered(self, older_than_s: float) -> int:
        """Drop rows delivered longer ago than ``older_than_s``; the cursor is unaffected."""
        with self._write() as con:
            before = con.total_changes
            con.execute(
                "DELETE FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < ?"
                " AND seq <= ?",
                (time.time() - older_than_s, self._cursor(con)),
            )
            return con.total_changes - before

    @contextlib.contextmanager
    def relay_lock(self) -> Iterator[bool]:
        """Hold the relay lock if no other process does; yields whether it was taken.

        Two relays sending the same rows would only cause duplicates (consumers dedupe), but
        one relay at a time keeps the broker traffic and the delivery order sane.
        """
        if fcntl is None:
            yield True
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(f"{self.path}.relay.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    @staticmethod
    def _cursor(con: sqlite3.Connection) -> int:
        first_pending = con.execute(
            "SELECT min(seq) FROM outbox WHERE delivered_at IS NULL"
        ).fetchone()[0]
        if first_pending is not None:
            return first_pending - 1
        last = con.execute("SELECT max(seq) FROM outbox").fetchone()[0]
        if last is not None:
            return last
        stored = con.execute("SELECT value FROM relay_state WHERE name = 'cursor'").fetchone()
        return int(stored[0]) if stored else 0

    @staticmethod
    def _set(con: sqlite3.Connection, name: str, value: str) -> None:
        con.execute(
            "INSERT INTO relay_state (name, value) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )


def _ranges(seqs: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted, merged runs of consecutive numbers; acks mostly arrive as long runs."""
    ranges: list[tuple[int, int]] = []
    for seq in sorted(set(seqs)):
        if ranges and ranges[-1][1] == seq - 1:
            ranges[-1] = (ranges[-1][0], seq)
        else:
            ranges.append((seq, seq))
    return ranges


def _from_epoch(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def emit(data_dir: Path | str, events: Iterable[Mapping[str, Any]]) -> int:
    """Queue events in ``<data_dir>/outbox.sqlite``; returns how many were new there."""
    return Outbox.in_data_dir(data_dir).add(events)
