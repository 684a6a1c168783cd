"""PostgreSQL as a shared warehouse: writers side by side, readers that never wait, and a
writer killed mid-write that leaves the database consistent and unlocked."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psycopg2

from tg_pipeline.warehouse import MessageFilter
from tg_pipeline.warehouse.pg import PgWarehouse
from tg_pipeline_tests.conftest import REPO_ROOT
from tg_pipeline_tests.warehouse_tests.builders import (
    assert_chat_stats_exact,
    batches,
    dump,
    json_row,
)
from tg_pipeline_tests.warehouse_tests.pg_writer import held_ingest


def _other_chat(i: int) -> dict[str, object]:
    return json_row(i, chat_id=3003, chat_name="Other", sender_id=f"user{200 + i % 2}")


def test_two_ingests_of_different_dumps_both_commit(pg_url: str) -> None:
    """The first writer is held mid-transaction (its dump half read); the second ingests
    and commits meanwhile, a reader answers meanwhile, then the first commits too."""
    with PgWarehouse.open(pg_url):
        pass
    first = [json_row(i) for i in range(1, 50)]
    then = [json_row(i) for i in range(50, 100)]
    with held_ingest(pg_url, first, then) as held:
        with PgWarehouse.open(pg_url) as w:
            second = w.ingest(batches([_other_chat(i) for i in range(1, 31)]), dump=dump("second"))
        assert held.thread.is_alive() and held.result is None
        with PgWarehouse.open(pg_url, read_only=True) as reader:
            started = time.monotonic()
            chats = reader.chats().to_pylist()
            print(f"chats answered in {time.monotonic() - started:.3f}s during a write")
        assert [(c["chat_id"], c["message_count"]) for c in chats] == [(3003, 30)]
    assert held.error is None and held.result is not None
    assert held.result.new == 99 and second.new == 30
    with PgWarehouse.open(pg_url) as w:
        assert w.row_counts()["messages"] == 129
        assert w.duplicate_keys() == 0
        assert [row[:2] for row in assert_chat_stats_exact(w)] == [(1001, 99), (3003, 30)]


def test_reader_answers_while_a_writer_holds_rows(pg_url: str) -> None:
    """A transaction that has rewritten every stored message and holds their row locks
    (as an ingest's UPDATE does until COMMIT) keeps no reader and no other writer waiting."""
    with PgWarehouse.open(pg_url) as w:
        w.ingest(batches([json_row(i) for i in range(1, 21)]), dump=dump("a"))
        w.refresh_counts()
    holder = psycopg2.connect(pg_url)
    try:
        with holder.cursor() as cur:
            cur.execute("UPDATE messages SET text = text || ' (uncommitted)'")
            cur.execute("UPDATE dumps SET status = status")
        with PgWarehouse.open(pg_url, read_only=True) as reader:
            started = time.monotonic()
            texts = reader.messages(MessageFilter(), limit=2).column("text").to_pylist()
            print(f"read answered in {time.monotonic() - started:.3f}s during a write")
            assert texts == ["message 1", "message 2"]
            assert reader.count_rows("chats") == 1
        with PgWarehouse.open(pg_url) as w:
            other = w.ingest(batches([_other_chat(i) for i in range(1, 6)]), dump=dump("b"))
        assert other.new == 5
    finally:
        holder.rollback()
        holder.close()


def _backend_pids(pg_url: str, *query_prefixes: str) -> list[int]:
    """Other sessions of the database running a query that starts with one of
    ``query_prefixes`` (LIKE patterns; none: any query)."""
    patterns = [prefix + "%" for prefix in query_prefixes or ("",)]
    with psycopg2.connect(pg_url) as con, con.cursor() as cur:
        cur.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND state = 'active' AND query LIKE ANY (%s)",
            (patterns,),
        )
        return [pid for (pid,) in cur.fetchall()]


def _wait_for(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def test_writer_killed_mid_write_leaves_postgres_consistent_and_unlocked(pg_url: str) -> None:
    with PgWarehouse.open(pg_url) as w:
        w.ingest(batches([json_row(i) for i in range(1, 101)]), dump=dump("before"))
        w.refresh_counts()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-m", "tg_pipeline_tests.warehouse_tests.pg_writer", pg_url, "300000"],
        env=env,
        cwd=REPO_ROOT,
    )
    try:
        # Killed while the dump's rows are being written into messages (COPYed there
        # straight, or inserted from staging).
        pids: list[int] = []
        writing = ('COPY %"messages"', "INSERT INTO messages")
        assert _wait_for(
            lambda: bool(pids.extend(_backend_pids(pg_url, *writing)) or pids),
            240,
        ), "the writer never wrote into messages"
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(30)
    assert child.returncode == -signal.SIGKILL
    # The server ends the dead client's session and rolls its transaction back.
    assert _wait_for(lambda: not _backend_pids(pg_url, ""), 60)
    with psycopg2.connect(pg_url) as con, con.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE a.datname = current_database() AND l.pid <> pg_backend_pid()"
        )
        assert cur.fetchone() == (0,)
    with PgWarehouse.open(pg_url) as w:
        assert w.row_counts()["messages"] == 100
        assert not w.counts_stale()
        assert w.counts_mismatch() == 0
        assert [d["dump_id"] for d in w.dumps().to_pylist()] == ["before"]
        again = w.ingest(batches([json_row(i, chat_id=4004) for i in range(1, 11)]), dump=dump("x"))
        assert again.new == 10
