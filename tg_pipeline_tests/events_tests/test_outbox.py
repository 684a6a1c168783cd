"""The durable outbox: idempotent appends, ack-driven cursor, several writing processes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from tg_pipeline.events import Outbox, emit, make_audit_event


def audit(n: int, run: str = "r1") -> list[dict]:
    return [make_audit_event("log_warning", run_id=run, message=f"w{i}") for i in range(n)]


def test_add_is_idempotent_by_event_id(outbox: Outbox) -> None:
    events = audit(10)
    assert outbox.add(events) == 10
    assert outbox.add(events) == 0
    assert outbox.add([*events[:3], *audit(2, run="r2")]) == 2
    assert outbox.pending_count() == 12
    backlog = outbox.backlog()
    assert (backlog.pending, backlog.pending_audit, backlog.pending_counts) == (12, 12, 0)
    assert backlog.cursor == 0
    assert "12 events pending" in backlog.summary()


def test_cursor_moves_only_over_acknowledged_rows(outbox: Outbox) -> None:
    outbox.add(audit(5))
    seqs = [row.seq for row in outbox.pending(limit=10)]
    outbox.mark_delivered([seqs[1], seqs[2]])
    assert outbox.cursor() == seqs[0] - 1
    assert [r.seq for r in outbox.pending(limit=10)] == [seqs[0], *seqs[3:]]
    outbox.record_failure([seqs[0]], "MSG_TIMED_OUT: timed out")
    assert outbox.backlog().last_error == "MSG_TIMED_OUT: timed out"
    outbox.mark_delivered([seqs[0]])
    assert outbox.cursor() == seqs[2]
    outbox.mark_delivered(seqs[3:])
    assert outbox.cursor() == seqs[-1]
    assert outbox.pending_count() == 0
    assert outbox.prune_delivered(older_than_s=0) == 5
    assert outbox.cursor() == seqs[-1]
    # A pruned event added again is simply sent again; consumers drop repeats by event_id.
    outbox.add(audit(1))
    assert outbox.pending(limit=1)[0].seq > seqs[-1]


def test_file_is_wal_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert emit(data, audit(3)) == 3
    con = sqlite3.connect(data / "outbox.sqlite")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("SELECT count(*) FROM outbox").fetchone()[0] == 3


WRITER = """
import sys
from tg_pipeline.events import Outbox, make_audit_event
outbox = Outbox(sys.argv[1])
name = sys.argv[2]
for batch in range(40):
    outbox.add(
        [make_audit_event("log_warning", run_id=name, message=f"{batch}-{i}") for i in range(50)]
    )
"""


def test_processes_write_at_the_same_time(outbox: Outbox) -> None:
    """A sensor and a run may append simultaneously; nothing is lost, nothing waits forever."""
    outbox.add(audit(1))
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(outbox.path), f"proc{i}"])
        for i in range(3)
    ]
    relayed = 0
    while any(p.poll() is None for p in procs):
        rows = outbox.pending(limit=100)
        relayed += outbox.mark_delivered(r.seq for r in rows)
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    relayed += outbox.mark_delivered(r.seq for r in outbox.pending(limit=10_000))
    assert relayed == 1 + 3 * 40 * 50
    assert outbox.pending_count() == 0
