"""The CLI on a PostgreSQL warehouse (``TG_WAREHOUSE_URL``): the same answers as on DuckDB,
writers of different dumps side by side, and reads that do not wait for a writer."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import dagster as dg
import orjson
import psycopg2

from tg_pipeline.defs.names import WAREHOUSE_POOL
from tg_pipeline.defs.shared.pool import SHARED_WAREHOUSE_SLOTS
from tg_pipeline_tests.cli_tests.conftest import (
    CLI,
    HOSTILE_CHAT,
    HOSTILE_EXPORT,
    Built,
    DataDir,
    cli_env,
    run_cli,
)
from tg_pipeline_tests.conftest import shared_fixture


def _read_all(data: DataDir) -> dict[str, str]:
    """Each read's rows as JSON text, with the data directory (in source paths) masked."""
    out: dict[str, str] = {}
    for name, args in {
        "chats": ("chats",),
        "counts": ("counts",),
        "overall": ("counts", "--overall"),
        "messages": ("messages",),
        "hostile": ("messages", "--chat", HOSTILE_CHAT, "--text", "o"),
    }.items():
        result = run_cli(*args, "--format", "jsonl", data_dir=data)
        assert result.code == 0, str(result)
        out[name] = result.out.replace(str(data.path), "<data>")
    return out


def test_ingest_and_reads_agree_with_duckdb(built_duckdb: Built, built_postgres: Built) -> None:
    """The session's warehouse, built by the same ingest on each backend, reads the same."""
    answers = {}
    for built in (built_postgres, built_duckdb):
        answers[built.data_dir.on_postgres] = _read_all(built.data_dir)
        status = run_cli("status", data_dir=built.data_dir)
        assert status.code == 0, str(status)
    assert answers[True]["messages"], "nothing was ingested"
    assert answers[True] == answers[False]


def _blocked_steps(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    records = instance.all_logs(run_id)
    return [r.message for r in records if "blocked" in (r.message or "").lower()]


def test_two_ingests_run_side_by_side_and_chats_answers_during_a_write(
    pg_url: str, tmp_path: Path
) -> None:
    """Acceptance: two ingests of different dumps started together both commit without
    waiting for the warehouse pool, and ``tg-pipeline chats`` answers while a writer holds
    its transaction open (its time is printed, not asserted)."""
    env = cli_env(TG_WAREHOUSE_URL=pg_url)
    data = tmp_path / "data"
    seed = shared_fixture("chatparser_seed", "result.json")
    # The local instance exists before the two start, as after any first command.
    assert run_cli("chats", data_dir=data, env=env).code in (0, 1)
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            [str(CLI), "--data-dir", str(data), "ingest", str(dump)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for dump in (HOSTILE_EXPORT, seed)
    ]
    outputs = [p.communicate(timeout=240)[0] for p in procs]
    print(f"two ingests side by side: {time.monotonic() - started:.1f}s")
    assert [p.returncode for p in procs] == [0, 0], outputs

    with dg.DagsterInstance.from_config(str(data / "dagster_home")) as instance:
        runs = instance.get_runs()
        assert len(runs) >= 2
        for run in runs:
            assert not _blocked_steps(instance, run.run_id), run.run_id
        info = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
        assert info.slot_count == SHARED_WAREHOUSE_SLOTS

    holder = psycopg2.connect(pg_url)
    try:
        with holder.cursor() as cur:
            cur.execute("UPDATE messages SET text = text || ' (uncommitted)'")
            cur.execute("UPDATE chats SET name = name")
        began = time.monotonic()
        chats = subprocess.run(
            [str(CLI), "--data-dir", str(data), "chats", "--format", "jsonl"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        print(f"tg-pipeline chats during a write: {time.monotonic() - began:.2f}s (process)")
        assert chats.returncode == 0, chats.stderr
        assert len(chats.stdout.splitlines()) == 2
    finally:
        holder.rollback()
        holder.close()


def _imported_packages(importtime_report: str) -> set[str]:
    """The top-level packages a process imported, from its ``-X importtime`` report."""
    found = set()
    for line in importtime_report.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                found.add(name.split(".")[0])
    return found


def test_chats_on_postgres_imports_neither_dagster_nor_duckdb(pg_url: str, tmp_path: Path) -> None:
    """A read of a PostgreSQL warehouse is the CLI, the query and the ADBC driver: the
    ``tg-pipeline chats`` process never loads Dagster or DuckDB."""
    env = cli_env(TG_WAREHOUSE_URL=pg_url)
    data = tmp_path / "data"
    ingested = run_cli("ingest", str(HOSTILE_EXPORT), data_dir=data, env=env)
    assert ingested.code == 0, str(ingested)
    chats = subprocess.run(
        [str(CLI), "--data-dir", str(data), "chats", "--format", "jsonl"],
        env={**env, "PYTHONPROFILEIMPORTTIME": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert chats.returncode == 0, chats.stderr
    assert [row["name"] for row in map(orjson.loads, chats.stdout.splitlines())] == [HOSTILE_CHAT]
    imported = _imported_packages(chats.stderr)
    assert {"tg_pipeline", "adbc_driver_postgresql", "pyarrow"} <= imported, imported
    assert not imported & {"dagster", "duckdb"}, sorted(imported & {"dagster", "duckdb"})
    assert not (data / "warehouse.duckdb").exists()
