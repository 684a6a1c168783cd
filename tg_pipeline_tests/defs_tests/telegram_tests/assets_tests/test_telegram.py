"""The telegram assets materialized for real: Dagster runs on a temp instance and a real
warehouse. Those that exercise the warehouse (ingest, counts and their events, checks,
backups, restore) run on both backends; the rest, about dumps and their files, on DuckDB."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from tg_pipeline.records import FIELD_NAMES
from tg_pipeline_tests.dagster_harness import (
    backup,
    check_results,
    definitions_for,
    drop,
    ingest,
    materialization_metadata,
    rows,
    scalar,
    snapshot,
)
from tg_pipeline_tests.pg_warehouse import on_both_backends

SEED_CHAT_ID = 1124496986
MESSAGE_COLUMNS = ", ".join(FIELD_NAMES)


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test(overrides={"concurrency": {"pools": {"default_limit": 1}}}) as inst:
        yield inst


@pytest.fixture
def defs(settings) -> dg.Definitions:
    return definitions_for(settings)


def messages_table(settings) -> list[tuple]:
    return rows(
        settings.warehouse(), f"SELECT {MESSAGE_COLUMNS} FROM messages ORDER BY chat_id, message_id"
    )


@pytest.mark.parametrize(
    "order", [("result.json", "messages.html"), ("messages.html", "result.json")]
)
def test_seed_pair_in_either_order_is_one_chat_of_12(order, seed_dir, instance, settings, defs):
    first = ingest(instance, defs, seed_dir / order[0])
    second = ingest(instance, defs, seed_dir / order[1])

    paths = settings.paths()
    assert scalar(paths, "SELECT count(*) FROM chats") == 1
    assert scalar(paths, "SELECT count(*) FROM messages") == 12
    assert scalar(paths, "SELECT count(DISTINCT chat_id) FROM messages") == 1
    # Ten of the twelve entries are messages; the two service entries are not counted.
    assert scalar(paths, "SELECT sum(message_count) FROM user_message_counts") == 10
    assert materialization_metadata(first, "messages")["new"] == 12
    meta = materialization_metadata(second, "messages")
    assert meta["new"] == 0
    assert meta["updated"] + meta["unchanged"] == 12
    assert meta["dagster/row_count"] == 12
    assert all(c.passed for name, c in check_results(second).items() if "reply" not in name)


@on_both_backends("settings")
def test_materialization_metadata_reads_well(seed_dir, instance, settings, defs):
    result = ingest(instance, defs, seed_dir / "result.json")

    raw = materialization_metadata(result, "raw_dump")
    assert raw["kind"] == "telegram_json"
    assert raw["files"] == 1
    assert raw["total_bytes"] == (seed_dir / "result.json").stat().st_size
    manifest = json.loads(Path(raw["manifest"]).read_text())
    assert manifest["fingerprint"] == raw["fingerprint"]
    assert manifest["files"][0]["bytes"] == raw["total_bytes"]

    meta = materialization_metadata(result, "messages")
    assert (meta["new"], meta["updated"], meta["unchanged"], meta["rows_in_dump"]) == (12, 0, 0, 12)
    assert meta["chats_touched"] == 1
    assert str(SEED_CHAT_ID) in meta["chat_ids"]
    assert meta["senders_touched"] >= 3
    schema = meta["dagster/column_schema"]
    assert {"chat_id", "message_id", "text", "sent_at"} <= {c.name for c in schema.columns}
    # Every column the UI shows says what it holds.
    counts_schema = materialization_metadata(result, "user_message_counts")["dagster/column_schema"]
    undocumented = [c.name for c in [*schema.columns, *counts_schema.columns] if not c.description]
    assert not undocumented
    preview = meta["preview"]
    assert "message_id" in {c.name for c in preview.schema.columns}
    assert len(preview.records) == 5 and all(
        type(r.data["message_id"]) is int for r in preview.records
    )

    counts = materialization_metadata(result, "user_message_counts")
    assert counts["total_messages_counted"] == 10
    assert counts["changed"] == counts["dagster/row_count"]
    assert counts["count_events"] == counts["changed"]


@on_both_backends("settings")
def test_reingesting_a_dump_changes_no_table(seed_dir, instance, settings, defs):
    ingest(instance, defs, seed_dir / "result.json")
    before = snapshot(settings.warehouse())

    again = ingest(instance, defs, seed_dir / "result.json")

    meta = materialization_metadata(again, "messages")
    assert (meta["new"], meta["updated"], meta["unchanged"]) == (0, 0, 12)
    assert materialization_metadata(again, "user_message_counts")["changed"] == 0
    after = snapshot(settings.warehouse())
    assert after == before


def newer_export(seed_dir: Path, dest: Path) -> Path:
    """The seed chat exported later: two more messages, and message 182655 edited."""
    data = json.loads((seed_dir / "result.json").read_text(encoding="utf-8"))
    last = data["messages"][-1]
    edited = next(m for m in data["messages"] if m["id"] == 182655)
    edited["text"] = "message5, edited"
    edited["text_entities"] = [{"type": "plain", "text": "message5, edited"}]
    edited["edited"] = "2022-09-01T10:00:00"
    edited["edited_unixtime"] = "1662026400"
    for offset in (1, 2):
        added = dict(last)
        added["id"] = last["id"] + offset
        added["date_unixtime"] = str(int(last["date_unixtime"]) + 60 * offset)
        added["text"] = f"later message {offset}"
        added["text_entities"] = [{"type": "plain", "text": f"later message {offset}"}]
        added.pop("reply_to_message_id", None)
        data["messages"].append(added)
    dest.mkdir(parents=True)
    path = dest / "result.json"
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


@on_both_backends("settings")
def test_overlapping_newer_export_adds_new_and_updates_edited(
    seed_dir, tmp_path, instance, settings, defs
):
    ingest(instance, defs, seed_dir / "result.json")
    newer = newer_export(seed_dir, tmp_path / "later_export")

    result = ingest(instance, defs, newer)

    meta = materialization_metadata(result, "messages")
    assert (meta["new"], meta["updated"], meta["unchanged"]) == (2, 1, 11)
    paths = settings.warehouse()
    assert scalar(paths, "SELECT count(*) FROM messages") == 14
    assert scalar(paths, "SELECT text FROM messages WHERE message_id = 182655") == (
        "message5, edited"
    )
    # A sum over BIGINT is NUMERIC on PostgreSQL, which the driver hands over as text.
    total = "SELECT CAST(sum(message_count) AS BIGINT) FROM user_message_counts"
    assert scalar(paths, total) == 12


@on_both_backends("settings")
def test_full_account_export_loads_every_chat(samples_dir, instance, settings, defs):
    source = samples_dir / "json" / "mlomb_chat-analytics__MultiChat_2C_6M.full_account.json"
    account = json.loads(source.read_text(encoding="utf-8"))
    chats = account["chats"]["list"]

    result = ingest(instance, defs, source)

    paths = settings.warehouse()
    ids = {row for row in _column(paths, "SELECT DISTINCT chat_id FROM messages")}
    assert ids == {c["id"] for c in chats}
    assert scalar(paths, "SELECT count(*) FROM chats") == len(chats)
    assert scalar(paths, "SELECT count(*) FROM messages") == sum(len(c["messages"]) for c in chats)
    assert materialization_metadata(result, "messages")["chats_touched"] == len(chats)


def test_full_account_without_chat_ids_still_loads_each_chat(samples_dir, instance, settings, defs):
    source = samples_dir / "json" / "joweich_chat-miner__test_batch_export.full_account.json"
    chats = json.loads(source.read_text(encoding="utf-8"))["chats"]["list"]

    ingest(instance, defs, source)

    paths = settings.paths()
    assert scalar(paths, "SELECT count(*) FROM chats") == len(chats)
    assert scalar(paths, "SELECT count(*) FROM messages") == sum(len(c["messages"]) for c in chats)


def _column(where, sql: str) -> list:
    return [row[0] for row in rows(where, sql)]


@pytest.mark.slow
def test_backup_then_restore_into_empty_warehouse_gives_the_same_table(
    seed_dir, samples_dir, tmp_path, instance, settings, settings_for, defs
):
    """DuckDB only, for its time: on PostgreSQL the backup assets and their checks run in
    test_both_backends, and a restore runs through the CLI's runs (cli_tests/test_ingest)."""
    ingest(instance, defs, seed_dir / "result.json")
    ingest(
        instance,
        defs,
        samples_dir / "json" / "mlomb_chat-analytics__MultiChat_2C_6M.full_account.json",
    )
    original = messages_table(settings)

    result = backup(instance, defs)

    checks = check_results(result)
    assert checks["messages_backup_parquet_verified"].passed
    assert checks["messages_backup_csv_verified"].passed
    parquet = Path(materialization_metadata(result, "messages_backup_parquet")["path"])
    csv = Path(materialization_metadata(result, "messages_backup_csv")["path"])
    assert parquet.is_file() and csv.is_file()
    assert materialization_metadata(result, "messages_backup_parquet")["bytes"] == (
        parquet.stat().st_size
    )
    assert materialization_metadata(result, "messages_backup_csv")["dagster/row_count"] == len(
        original
    )

    with dg.instance_for_test() as fresh:
        for backup_file in (parquet, csv):
            empty = settings_for(tmp_path / f"restore_{backup_file.suffix.strip('.')}")
            restore_defs = definitions_for(empty)
            first = ingest(fresh, restore_defs, backup_file)
            assert materialization_metadata(first, "messages")["new"] == len(original)
            assert messages_table(empty) == original

        # Restoring the same backup again leaves every table as it was.
        before = snapshot(empty.warehouse())
        second = ingest(fresh, restore_defs, csv)
        meta = materialization_metadata(second, "messages")
        assert (meta["new"], meta["updated"], meta["unchanged"]) == (0, 0, len(original))
        assert snapshot(empty.warehouse()) == before


@on_both_backends("settings")
def test_corrupt_dump_is_quarantined_and_the_warehouse_keeps_its_data(
    seed_dir, instance, settings, defs
):
    ingest(instance, defs, seed_dir / "result.json")
    paths = settings.paths()
    before = snapshot(settings.warehouse())
    text = (seed_dir / "result.json").read_text(encoding="utf-8")
    broken = paths.inbox / "broken_export"
    broken.mkdir(parents=True)
    # Cut in the middle of the seventh message: detection still sees a chat export.
    (broken / "result.json").write_text(text[: text.index('"id": 182656')], encoding="utf-8")

    result = ingest(instance, defs, broken, raise_on_error=False)

    # The dump is bad, not the pipeline: no telegram asset fails, the steps after the read
    # are skipped, and the quarantine asset records the dump with the reason.
    assert result.success and not result.get_step_failure_events()
    skipped = {e.step_key for e in result.all_events if e.event_type_value == "STEP_SKIPPED"}
    assert "user_message_counts" in skipped
    (recorded,) = [
        e for e in result.get_asset_materialization_events() if e.asset_key.path == ["quarantine"]
    ]
    meta = recorded.step_materialization_data.materialization.metadata
    assert "result.json" in meta["reason"].value and meta["stage"].value == "read"
    assert meta["error_position"].value
    latest = instance.get_latest_materialization_event(dg.AssetKey("quarantine"))
    assert latest is not None and "result.json" in latest.asset_materialization.description
    assert not broken.exists()
    quarantined = paths.quarantine / "broken_export"
    assert (quarantined / "result.json").is_file()
    report = (paths.quarantine / "broken_export.error.txt").read_text(encoding="utf-8")
    assert "result.json" in report and "error:" in report
    after = snapshot(settings.warehouse())
    for table, held in before.items():
        if table != "dumps":
            assert after[table] == held, table
    statuses = _column(settings.warehouse(), "SELECT status FROM dumps ORDER BY status")
    assert "quarantined" in statuses
    # Its raw copy is gone too: nothing of a rejected dump stays in the pipeline's data.
    assert not any(p.name.startswith("broken_export") for p in paths.raw.iterdir())


def test_ingesting_from_the_inbox_moves_the_entry_to_processed(seed_dir, instance, settings, defs):
    paths = settings.paths()
    entry = drop(seed_dir / "result.json", paths.inbox, "chat_export.json")

    result = ingest(instance, defs, entry)

    assert result.success
    assert not entry.exists()
    assert (paths.processed / "chat_export.json").is_file()
    raw = Path(materialization_metadata(result, "raw_dump")["raw_copy"])
    assert (raw / "files" / "chat_export.json").read_bytes() == (
        seed_dir / "result.json"
    ).read_bytes()


def test_a_partition_rematerializes_from_its_raw_copy(seed_dir, instance, settings, defs):
    paths = settings.paths()
    entry = drop(seed_dir / "result.json", paths.inbox)
    first = ingest(instance, defs, entry)
    dump_id = first.dagster_run.tags["dagster/partition"]
    shutil.rmtree(paths.warehouse.parent / "processed")

    again = defs.resolve_job_def("ingest_job").execute_in_process(
        instance=instance, partition_key=dump_id
    )

    assert again.success
    meta = materialization_metadata(again, "messages")
    assert (meta["new"], meta["unchanged"]) == (0, 12)


@on_both_backends("settings")
def test_unique_keys_check_fails_on_a_duplicated_key(seed_dir, instance, settings, defs):
    """``messages`` has no key index on DuckDB, so this check is what notices a key stored
    twice there. PostgreSQL keeps the key as the table's primary key and refuses the copy."""
    from tg_pipeline.defs.shared.guard import WarehouseGuard
    from tg_pipeline.defs.telegram.checks import messages_unique_keys
    from tg_pipeline.warehouse.pg.session import PgError

    ingest(instance, defs, seed_dir / "result.json")
    guard = WarehouseGuard(run_id="direct", paths=settings.paths())
    assert messages_unique_keys(settings=settings, warehouse_guard=guard).passed

    duplicate = "INSERT INTO messages SELECT * FROM messages ORDER BY message_id LIMIT 2"
    target = settings.warehouse()
    if target.on_postgres:
        with target.open() as warehouse, pytest.raises(PgError, match="duplicate key"):
            warehouse.sql_con.execute(duplicate)
        assert messages_unique_keys(settings=settings, warehouse_guard=guard).passed
        return
    with target.open() as warehouse:
        warehouse.sql_con.execute(duplicate)
    result = messages_unique_keys(settings=settings, warehouse_guard=guard)
    assert not result.passed
    assert result.metadata["duplicate_keys"].value == 2
    assert result.description == "2 duplicated key(s)"
