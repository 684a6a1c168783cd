"""``status``: dumps with their states, last runs, outbox and Kafka, warehouse size and rows."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import orjson

from tg_pipeline_tests.cli_tests.conftest import Built, DataDir, cli_env, run_cli
from tg_pipeline_tests.kafka_broker import TansuBroker, free_port
from tg_pipeline_tests.pg_warehouse import on_both_backends


@on_both_backends("built")
def test_status_reports_every_part(built: Built) -> None:
    unreachable = f"127.0.0.1:{free_port()}"
    result = run_cli(
        "status",
        "--format",
        "json",
        data_dir=built.data_dir,
        env=cli_env(TG_KAFKA_BOOTSTRAP=unreachable),
    )
    assert result.code == 0, str(result)
    report = orjson.loads(result.out)

    warehouse = report["warehouse"]
    assert warehouse["state"] == "ok"
    # A file has a size to report; a PostgreSQL database's share of its server has none.
    assert warehouse.get("bytes", 0) > 0 or built.data_dir.on_postgres
    assert warehouse["row_counts"]["messages"] == len(
        run_cli("messages", "--format", "jsonl", data_dir=built.data_dir).jsonl()
    )
    states = {d["dump_id"].rsplit("-", 1)[0]: d for d in warehouse["dumps"]}
    assert states["result.json"]["status"] == "ingested"
    broken = states["broken_export"]
    assert broken["status"] == "quarantined" and broken["error"]

    runs = report["runs"]["runs"]
    assert {r["job"] for r in runs} == {"ingest_job"}
    # The broken dump's run succeeds too: a quarantine is recorded, not a failure.
    assert [r["status"] for r in runs].count("SUCCESS") == 4

    events = report["events"]
    assert events["pending"] > 0  # nothing relayed them: no broker during ingest
    assert events["kafka"]["reachable"] is False and events["kafka"]["bootstrap"] == unreachable


def test_status_table_and_reachable_broker(built: Built) -> None:
    """DuckDB only: its subject is the broker's part of the report."""
    with TansuBroker() as broker:
        result = run_cli(
            "status", data_dir=built.data_dir, env=cli_env(TG_KAFKA_BOOTSTRAP=broker.bootstrap)
        )
    assert result.code == 0, str(result)
    for text in (
        "Warehouse",
        "messages",
        "Dumps",
        "quarantined",
        "Last runs",
        "ingest_job",
        "SUCCESS",
        "Outbox",
        "pending",
        "Kafka",
        "reachable",
    ):
        assert text in result.out, result.out
    assert "NOT reachable" not in result.out


def test_status_on_a_fresh_data_dir(tmp_path) -> None:
    result = run_cli("status", data_dir=tmp_path / "fresh")
    assert result.code == 0, str(result)
    assert "not created yet" in result.out and "no runs yet" in result.out
    assert "not configured" in result.out


_LOCK_HOLDER = textwrap.dedent(
    """
    import sys
    from tg_pipeline.warehouse.lock import hold_warehouse

    with hold_warehouse(sys.argv[1], run_id="5eedf00d-0000-4000-8000-00000000000a"):
        print("holding", flush=True)
        sys.stdin.read()
    """
)


def test_status_names_the_writer_and_whether_it_lives(data_copy: DataDir) -> None:
    """DuckDB only: the writer is the holder of the DuckDB file's lock."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _LOCK_HOLDER, str(data_copy.path / "warehouse.duckdb")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        live = orjson.loads(run_cli("status", "--format", "json", data_dir=data_copy).out)
        table = run_cli("status", data_dir=data_copy).out
    finally:
        holder.kill()
        holder.wait(timeout=30)
    writer = live["warehouse"]["holder"]
    assert writer["run_id"] == "5eedf00d-0000-4000-8000-00000000000a"
    assert (writer["pid"], writer["alive"]) == (holder.pid, True) and writer["since"]
    assert f"pid {holder.pid}" in table and "alive" in table

    dead = orjson.loads(run_cli("status", "--format", "json", data_dir=data_copy).out)
    assert dead["warehouse"]["holder"]["alive"] is False
    assert "gone" in run_cli("status", data_dir=data_copy).out
