"""Opening the warehouse: another process holding it, missing files, clean closing.
DuckDB only: its file and the lock that lets one process write it at a time."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tg_pipeline.errors import TgPipelineError, WarehouseBusy
from tg_pipeline.warehouse import Warehouse
from tg_pipeline.warehouse.lock import holder_path, read_holder
from tg_pipeline_tests.warehouse_tests.builders import batches, dump, json_row

HOLDER = textwrap.dedent(
    """
    import sys
    from tg_pipeline.warehouse import Warehouse

    with Warehouse.open(sys.argv[1], owner="dagster run 1a2b3c"):
        print("ready", flush=True)
        sys.stdin.read()
    """
)


@pytest.fixture
def holder(warehouse_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process with the warehouse open for writing until its stdin closes."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(warehouse_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    yield proc
    if proc.poll() is None:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)


@pytest.mark.parametrize("read_only", [False, True])
def test_busy_warehouse_raises_quickly_with_the_holder(
    warehouse_path: Path, holder: subprocess.Popen[str], read_only: bool
) -> None:
    started = time.monotonic()
    with (
        pytest.raises(WarehouseBusy) as caught,
        Warehouse.open(warehouse_path, read_only=read_only, wait_s=1),
    ):
        pass
    elapsed = time.monotonic() - started

    assert elapsed >= 0.9
    message = str(caught.value)
    assert f"warehouse {warehouse_path} is busy" in message
    assert f"pid {holder.pid}" in message and "dagster run 1a2b3c" in message
    assert "waited 1s" in message


def test_open_waits_for_the_holder_to_finish(
    warehouse_path: Path, holder: subprocess.Popen[str]
) -> None:
    def release() -> None:
        time.sleep(0.7)
        assert holder.stdin is not None
        holder.stdin.close()

    threading.Thread(target=release).start()
    with Warehouse.open(warehouse_path, wait_s=20) as warehouse:
        assert warehouse.row_counts()["messages"] == 0
    assert holder.wait(timeout=10) == 0


def test_holder_record_exists_only_while_open(warehouse_path: Path) -> None:
    with Warehouse.open(warehouse_path, owner="cli ingest"):
        assert b"cli ingest" in holder_path(warehouse_path).read_bytes()
    assert not holder_path(warehouse_path).exists()
    with Warehouse.open(warehouse_path, read_only=True):
        assert not holder_path(warehouse_path).exists()


def test_a_killed_holder_blocks_nobody(warehouse_path: Path, holder: subprocess.Popen[str]) -> None:
    live = read_holder(warehouse_path)
    assert live is not None and live.alive and live.pid == holder.pid
    holder.kill()
    holder.wait(timeout=30)
    # Its record stays behind, but the kernel dropped its lock with the process.
    dead = read_holder(warehouse_path)
    assert dead is not None and not dead.alive and dead.pid == holder.pid
    with Warehouse.open(warehouse_path, wait_s=0) as warehouse:
        assert warehouse.row_counts()["messages"] == 0


def test_connection_is_closed_when_the_block_raises(warehouse_path: Path) -> None:
    with pytest.raises(RuntimeError), Warehouse.open(warehouse_path) as warehouse:
        warehouse.con.execute("BEGIN TRANSACTION")
        warehouse.con.execute("INSERT INTO chat_dumps VALUES (1, 'half-done')")
        raise RuntimeError("boom")
    # Another process can open it at once: nothing is left locked.
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import duckdb,sys; duckdb.connect(sys.argv[1]).close()",
            str(warehouse_path),
        ],
        timeout=60,
    )
    assert done.returncode == 0
    assert not holder_path(warehouse_path).exists()
    with Warehouse.open(warehouse_path, read_only=True) as warehouse:
        assert warehouse.row_counts()["chat_dumps"] == 0


def test_write_open_creates_parent_folders(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "warehouse.duckdb"
    with Warehouse.open(path) as warehouse:
        warehouse.ingest(batches([json_row(1)]), dump=dump("d"))
    with Warehouse.open(path, read_only=True) as warehouse:
        assert warehouse.row_counts()["messages"] == 1
        with pytest.raises(Exception, match="read-only"):
            warehouse.con.execute("DELETE FROM messages")


def test_read_only_open_of_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "warehouse.duckdb"
    with (
        pytest.raises(TgPipelineError, match=r"no warehouse at .*nothing has been ingested"),
        Warehouse.open(path, read_only=True),
    ):
        pass
    assert not path.parent.exists()
