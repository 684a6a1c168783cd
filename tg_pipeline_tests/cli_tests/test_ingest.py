"""``ingest``, ``restore`` and ``backup`` through in-process Dagster runs, on both warehouse
backends where they reach the warehouse."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from tg_pipeline_tests.cli_tests.conftest import (
    HOSTILE_CHAT_ID,
    SEED_CHAT_ID,
    Built,
    DataDir,
    assert_one_line_error,
    messages_jsonl,
    run_cli,
)
from tg_pipeline_tests.pg_warehouse import on_both_backends


@on_both_backends("built")
def test_ingest_summary_per_dump(built: Built) -> None:
    result = built.ingest
    # One dump could not be read: the command says so and exits 1; the others are in.
    assert result.code == 1, str(result)
    assert "Traceback" not in result.err
    summary = {Path(r["path"]).name: r for r in result.jsonl()}
    assert set(summary) == {
        "result.json",
        "hostile_export",
        "mlomb_chat-analytics__DM_2A_7M.json",
        "broken_export",
    }
    seed = summary["result.json"]
    assert seed["status"] == "ingested" and seed["kind"] == "telegram_json"
    assert (seed["new"], seed["updated"], seed["unchanged"]) == (12, 0, 0)
    assert seed["dump_id"].startswith("result.json-") and seed["run_id"]
    assert summary["hostile_export"]["new"] == 10
    broken = summary["broken_export"]
    assert broken["status"] == "quarantined" and broken["error"]
    assert "broken_export" in result.err and "not ingested" in result.err


@on_both_backends("built", "data_copy")
def test_ingest_again_changes_nothing_and_runs_are_recorded(
    built: Built, data_copy: DataDir
) -> None:
    again = run_cli(
        "ingest", str(built.sources["seed"]), "--format", "jsonl", data_dir=data_copy
    ).jsonl()[0]
    assert (again["new"], again["updated"], again["unchanged"]) == (0, 0, 12)
    # The runs are in the data dir's Dagster instance, like runs started from the UI.
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(data_copy.path / "dagster_home"))
    try:
        record = instance.get_run_record_by_id(again["run_id"])
        assert record is not None
        assert record.dagster_run.job_name == "ingest_job"
        assert record.dagster_run.status == dg.DagsterRunStatus.SUCCESS
        assert record.dagster_run.tags["dagster/partition"] == again["dump_id"]
        assert again["dump_id"] in instance.get_dynamic_partitions("dumps")
    finally:
        instance.dispose()


@on_both_backends("built", "data_copy", "empty_data")
def test_backup_then_restore_into_an_empty_warehouse(
    built: Built, data_copy: DataDir, empty_data: DataDir
) -> None:
    result = run_cli("backup", "--format", "both", data_dir=data_copy)
    assert result.code == 0, str(result)
    lines = [line.split("\t") for line in result.out.splitlines()]
    files = {fmt: Path(path) for path, fmt, _ in lines}
    assert set(files) == {"parquet", "csv"}
    for path in files.values():
        assert path.is_file() and path.parent == data_copy.path / "backups"
    rows_in_table = len(messages_jsonl(data_copy))
    assert lines[0][2] == f"{rows_in_table} rows"
    parquet_rows = duckdb.sql(f"SELECT count(*) FROM '{files['parquet']}'").fetchall()[0][0]
    assert parquet_rows == rows_in_table

    # Restore both into an empty warehouse: the second adds nothing, no duplicates.
    restored = run_cli(
        "restore",
        str(files["parquet"]),
        str(files["csv"]),
        "--format",
        "jsonl",
        data_dir=empty_data,
    )
    assert restored.code == 0, str(restored)
    parquet, csv = restored.jsonl()
    assert parquet["kind"] == "backup_parquet" and parquet["new"] == rows_in_table
    assert csv["kind"] == "backup_csv"
    assert (csv["new"], csv["updated"], csv["unchanged"]) == (0, 0, rows_in_table)
    assert messages_jsonl(empty_data) == messages_jsonl(data_copy)


def test_restore_refuses_a_telegram_export(built: Built, tmp_path) -> None:
    result = run_cli("restore", str(built.sources["seed"]), data_dir=tmp_path / "d")
    assert_one_line_error(result, contains="not a tg_pipeline backup")


@on_both_backends("built", "data_copy")
def test_html_dump_joins_the_json_chat(
    built: Built, data_copy: DataDir, seed_dir: Path, tmp_path
) -> None:
    html = tmp_path / "html_export"
    html.mkdir()
    shutil.copy(seed_dir / "messages.html", html / "messages.html")
    result = run_cli("ingest", str(html), "--format", "jsonl", data_dir=data_copy)
    assert result.code == 0, str(result)
    (summary,) = result.jsonl()
    assert summary["kind"] == "telegram_html" and summary["new"] == 0
    chat = messages_jsonl(data_copy, "--chat", str(SEED_CHAT_ID))
    assert len(chat) == 12
    assert HOSTILE_CHAT_ID in {r["chat_id"] for r in messages_jsonl(data_copy)}


def test_missing_path_is_bad_usage(tmp_path) -> None:
    result = run_cli("ingest", str(tmp_path / "nope"), data_dir=tmp_path / "d")
    assert result.code == 2 and "Traceback" not in result.err
