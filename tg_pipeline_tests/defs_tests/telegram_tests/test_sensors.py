"""The inbox sensor evaluated tick by tick on a real instance, as the daemon would."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

import tg_pipeline.defs.telegram.sensors as inbox_module
from tg_pipeline.defs.names import DUMPS, INGEST_JOB
from tg_pipeline.defs.telegram.inbox_cursor import InboxEntry
from tg_pipeline.defs.telegram.sensors import PastRun, inbox_sensor, plan_retries
from tg_pipeline.events import Outbox, decode_event
from tg_pipeline.ingest import DataPaths, dump_id_for
from tg_pipeline_tests.conftest import OWN_FIXTURES
from tg_pipeline_tests.dagster_harness import definitions_for, drop, dump_id_of, make_settings


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


class Ticker:
    """Evaluates the sensor with the cursor it returned last time and applies its partition
    requests to the instance, which is what the sensor daemon does between ticks."""

    def __init__(self, instance: dg.DagsterInstance, settings) -> None:
        self.instance = instance
        self.settings = settings
        self.defs = definitions_for(settings)
        self.cursor: str | None = None

    def tick(self) -> dg.SensorResult:
        context = dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursor,
            resources={"settings": self.settings},
            definitions=self.defs,
        )
        result = inbox_sensor(context)
        assert isinstance(result, dg.SensorResult)
        self.cursor = result.cursor
        for request in result.dynamic_partitions_requests or []:
            self.instance.add_dynamic_partitions(
                request.partitions_def_name, request.partition_keys
            )
        return result


@pytest.fixture
def ticker(instance, tmp_path) -> Ticker:
    return Ticker(instance, make_settings(tmp_path / "data"))


def audit_events(settings, event_type: str) -> list[dict]:
    outbox = Outbox.in_data_dir(settings.paths().data_dir)
    events = [decode_event(e.value) for e in outbox.pending(limit=100_000)]
    return [e for e in events if e["event_type"] == event_type]


def test_new_dump_gives_one_partition_and_one_run(ticker, seed_dir, instance):
    entry = drop(seed_dir / "result.json", ticker.settings.paths().inbox)
    dump_id = dump_id_of(entry)

    first = ticker.tick()
    assert not first.run_requests  # seen once: could still be growing
    second = ticker.tick()

    assert len(second.run_requests) == 1
    request = second.run_requests[0]
    assert request.partition_key == dump_id
    assert request.run_key is not None and dump_id.endswith(request.run_key[:12])
    assert request.run_config["ops"]["raw_dump"]["config"]["source"] == str(entry)
    assert instance.get_dynamic_partitions(DUMPS) == [dump_id]
    assert [e["dump"] for e in audit_events(ticker.settings, "dump_detected")] == [dump_id]

    third = ticker.tick()
    assert not third.run_requests
    assert instance.get_dynamic_partitions(DUMPS) == [dump_id]


def test_an_unchanged_entry_is_never_hashed_twice(ticker, seed_dir, monkeypatch):
    calls: list[Path] = []
    real = inbox_module.fingerprint_dump

    def counting(path: Path) -> str:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(inbox_module, "fingerprint_dump", counting)
    drop(seed_dir / "result.json", ticker.settings.paths().inbox)

    for _ in range(5):
        ticker.tick()

    assert len(calls) == 1


def test_slow_copy_is_not_picked_up_until_complete(ticker, seed_dir):
    inbox = ticker.settings.paths().inbox
    inbox.mkdir(parents=True)
    content = (seed_dir / "result.json").read_bytes()
    target = inbox / "result.json"
    pieces = [content[: len(content) // 3], content[len(content) // 3 : 2 * len(content) // 3]]

    with target.open("wb") as out:
        for piece in pieces:
            out.write(piece)
            out.flush()
            assert not ticker.tick().run_requests
        out.write(content[2 * len(content) // 3 :])
    # Complete now, but seen with this size only once: still not taken.
    assert not ticker.tick().run_requests
    assert len(ticker.tick().run_requests) == 1


def test_folder_still_receiving_pages_is_not_picked_up(ticker, seed_dir):
    export = ticker.settings.paths().inbox / "ChatExport_2022-08-31"
    export.mkdir(parents=True)
    shutil.copyfile(seed_dir / "messages.html", export / "messages.html")
    assert not ticker.tick().run_requests
    (export / "photos").mkdir()
    (export / "photos" / "photo_1.jpg").write_bytes(b"\xff\xd8" + os.urandom(2048))
    assert not ticker.tick().run_requests
    assert len(ticker.tick().run_requests) == 1


def test_entry_is_left_alone_until_it_has_settled(instance, tmp_path, seed_dir):
    ticker = Ticker(instance, make_settings(tmp_path / "data", settle_seconds=3600))
    drop(seed_dir / "result.json", ticker.settings.paths().inbox)
    for _ in range(3):
        assert not ticker.tick().run_requests


def test_duplicate_drop_starts_no_run(ticker, seed_dir, instance):
    inbox = ticker.settings.paths().inbox
    drop(seed_dir / "result.json", inbox)
    ticker.tick()
    assert len(ticker.tick().run_requests) == 1

    again = drop(seed_dir / "result.json", inbox, "same_chat_again.json")
    results = [ticker.tick(), ticker.tick(), ticker.tick()]

    assert not any(r.run_requests for r in results)
    assert len(instance.get_dynamic_partitions(DUMPS)) == 1
    assert not again.exists()
    assert (ticker.settings.paths().processed / "same_chat_again.json").is_file()
    duplicates = audit_events(ticker.settings, "dump_duplicate")
    assert len(duplicates) == 1
    assert duplicates[0]["payload"]["path"] == str(again)


def test_same_content_dropped_in_one_tick_gives_one_run(ticker, seed_dir, instance):
    inbox = ticker.settings.paths().inbox
    drop(seed_dir / "result.json", inbox, "a.json")
    drop(seed_dir / "result.json", inbox, "b.json")
    ticker.tick()

    assert len(ticker.tick().run_requests) == 1
    assert len(instance.get_dynamic_partitions(DUMPS)) == 1


def test_bad_dumps_are_quarantined_with_a_report(ticker):
    paths = ticker.settings.paths()
    paths.inbox.mkdir(parents=True)
    (paths.inbox / "shopping_list.txt").write_text("milk\neggs\n", encoding="utf-8")
    (paths.inbox / "export.zip").write_bytes(b"PK\x03\x04 this is not really a zip")

    ticker.tick()
    result = ticker.tick()

    assert not result.run_requests
    assert sorted(p.name for p in paths.inbox.iterdir()) == []
    for name in ("shopping_list.txt", "export.zip"):
        assert (paths.quarantine / name).is_file()
        report = (paths.quarantine / f"{name}.error.txt").read_text(encoding="utf-8")
        assert "error:" in report and name in report
    events = audit_events(ticker.settings, "dump_quarantined")
    assert len(events) == 2
    assert all(e["payload"]["stage"] == "detect" for e in events)
    # Shown on the quarantine asset, with the reason, not only in the tick's log.
    shown = {
        e.metadata["entry"].value.rsplit("/", 1)[-1]: e.metadata["reason"].value
        for e in result.asset_events
        if e.asset_key == dg.AssetKey("quarantine")
    }
    assert set(shown) == {"shopping_list.txt", "export.zip"}
    assert all(reason for reason in shown.values())


def test_a_good_dump_beside_a_bad_one_still_runs(ticker, seed_dir):
    paths = ticker.settings.paths()
    drop(seed_dir / "messages.html", paths.inbox)
    (paths.inbox / "notes.txt").write_text("not an export", encoding="utf-8")
    ticker.tick()
    result = ticker.tick()
    assert len(result.run_requests) == 1
    assert (paths.quarantine / "notes.txt").is_file()


def test_sensor_ignores_hidden_and_partial_files(ticker, seed_dir):
    inbox = ticker.settings.paths().inbox
    drop(seed_dir / "result.json", inbox, ".result.json.swp")
    drop(seed_dir / "result.json", inbox, "result.json.crdownload")
    ticker.tick()
    assert not ticker.tick().run_requests
    assert len(list(inbox.iterdir())) == 2


def test_zip_dump_is_taken_as_one_dump(ticker, seed_dir, tmp_path):
    inbox = ticker.settings.paths().inbox
    inbox.mkdir(parents=True)
    with zipfile.ZipFile(inbox / "export.zip", "w") as zf:
        zf.write(seed_dir / "result.json", "ChatExport/result.json")
    ticker.tick()
    result = ticker.tick()
    assert len(result.run_requests) == 1
    assert result.run_requests[0].partition_key.startswith("export.zip-")


@pytest.fixture
def fingerprinted(monkeypatch) -> list[Path]:
    """Every entry a tick fingerprints: the costly part of a tick, bounded per tick."""
    seen: list[Path] = []
    real = inbox_module.fingerprint_dump

    def counting(entry: Path) -> str:
        seen.append(entry)
        return real(entry)

    monkeypatch.setattr(inbox_module, "fingerprint_dump", counting)
    return seen


def test_tick_over_an_export_with_10k_files_reads_it_once(ticker, seed_dir, fingerprinted):
    export = ticker.settings.paths().inbox / "ChatExport_big"
    photos = export / "photos"
    photos.mkdir(parents=True)
    shutil.copyfile(seed_dir / "result.json", export / "result.json")
    for i in range(9_999):
        (photos / f"photo_{i}.jpg").write_bytes(b"x")

    for _ in range(3):
        ticker.tick()
    # One entry in the cursor, fingerprinted once when it settled, never per file or per tick.
    assert fingerprinted == [export]
    assert ticker.cursor is not None and len(ticker.cursor) < 1_000


def test_tick_over_10k_inbox_entries_takes_a_bounded_batch(ticker, fingerprinted):
    inbox = ticker.settings.paths().inbox
    inbox.mkdir(parents=True)
    for i in range(10_000):
        message = {
            "id": 1,
            "type": "message",
            "date": "2024-01-01T00:00:00",
            "date_unixtime": str(1_704_067_200 + i),
            "from": "someone",
            "from_id": "user1",
            "text": f"hello {i}",
        }
        chat = {
            "name": f"chat {i}",
            "type": "personal_chat",
            "id": 10_000 + i,
            "messages": [message],
        }
        (inbox / f"chat_{i:05d}.json").write_text(json.dumps(chat), encoding="utf-8")

    result = ticker.tick()
    assert not result.run_requests
    assert not fingerprinted
    # The second tick takes a bounded batch; the rest wait for the following ticks.
    result = ticker.tick()
    assert len(result.run_requests) == inbox_module.MAX_NEW_DUMPS_PER_TICK
    assert len(fingerprinted) == inbox_module.MAX_NEW_DUMPS_PER_TICK
    ticker.tick()
    assert len(fingerprinted) == 2 * inbox_module.MAX_NEW_DUMPS_PER_TICK
    assert len(set(fingerprinted)) == len(fingerprinted)


# --- runs that failed for a reason outside the dump -----------------------------------------

OWN_JSON = OWN_FIXTURES / "channel" / "json" / "result.json"


def _execute(defs: dg.Definitions, instance: dg.DagsterInstance, request: dg.RunRequest):
    """What the daemon does with a run request: one run of ingest_job, with its tags."""
    return defs.resolve_job_def(INGEST_JOB).execute_in_process(
        instance=instance,
        partition_key=request.partition_key,
        run_config=request.run_config,
        tags=request.tags,
        raise_on_error=False,
    )


def test_a_run_failed_outside_its_dump_is_run_again(ticker, instance, monkeypatch):
    """The warehouse cannot be opened (a folder stands at its path): the run fails, the dump
    is not to blame, so it stays in the inbox and the sensor asks for it again until a run
    succeeds; each retry has a run key of its own."""
    monkeypatch.setattr(inbox_module, "RETRY_AFTER_SECONDS", 0)
    paths = ticker.settings.paths()
    entry = drop(OWN_JSON, paths.inbox)
    paths.warehouse.mkdir(parents=True)

    ticker.tick()
    (first,) = ticker.tick().run_requests
    assert not _execute(ticker.defs, instance, first).success
    assert entry.exists() and not (paths.quarantine / entry.name).exists()

    (second,) = ticker.tick().run_requests
    assert second.partition_key == first.partition_key
    assert second.run_key == f"{first.run_key}:attempt-2"
    assert second.run_config == first.run_config

    paths.warehouse.rmdir()
    assert _execute(ticker.defs, instance, second).success
    assert not entry.exists()
    assert not ticker.tick().run_requests


def test_retries_stop_after_the_last_attempt(ticker, instance, monkeypatch):
    monkeypatch.setattr(inbox_module, "RETRY_AFTER_SECONDS", 0)
    paths = ticker.settings.paths()
    entry = drop(OWN_JSON, paths.inbox)
    paths.warehouse.mkdir(parents=True)
    ticker.tick()
    keys = []
    for _ in range(inbox_module.MAX_RUN_ATTEMPTS):
        (request,) = ticker.tick().run_requests
        keys.append(request.run_key)
        assert not _execute(ticker.defs, instance, request).success
    assert len(set(keys)) == inbox_module.MAX_RUN_ATTEMPTS
    assert not ticker.tick().run_requests
    assert entry.exists()


def _waiting(tmp_path: Path) -> tuple[DataPaths, dict, str]:
    paths = DataPaths.under(tmp_path)
    fingerprint = "ab" * 32
    return (
        paths,
        {"result.json": InboxEntry(10, 1, 1, fingerprint)},
        dump_id_for("result.json", fingerprint),
    )


def test_a_retry_waits_longer_after_each_failure(tmp_path):
    paths, entries, dump_id = _waiting(tmp_path)
    failed = [PastRun(dump_id, "failed", 1000.0)]
    assert plan_retries(paths, entries, failed, now=1000.0 + 59, retry_after=60)[0] == []
    (retry,), log = plan_retries(paths, entries, failed, now=1000.0 + 60, retry_after=60)
    assert (retry.dump_id, retry.attempt, retry.entry) == (dump_id, 2, paths.inbox / "result.json")
    assert "requesting run 2" in log[0]
    twice = [PastRun(dump_id, "failed", 900.0), PastRun(dump_id, "failed", 1000.0)]
    assert plan_retries(paths, entries, twice, now=1000.0 + 119, retry_after=60)[0] == []
    assert plan_retries(paths, entries, twice, now=1000.0 + 120, retry_after=60)[0][0].attempt == 3


def test_a_full_disk_is_reported_not_retried(tmp_path):
    """Another run would fill the same disk: the cause is said once, with its path."""
    paths, entries, dump_id = _waiting(tmp_path)
    full = 'IO Error: Could not write file "/d/warehouse.duckdb": No space left on device'
    failed = [PastRun(dump_id, "failed", 1000.0, full)]
    retries, log = plan_retries(paths, entries, failed, now=1000.0 + 30, retry_after=60)
    assert retries == []
    assert full in log[0] and "not run again" in log[0]
    assert plan_retries(paths, entries, failed, now=1e9, retry_after=60) == ([], [])


def test_no_retry_while_a_run_is_going_after_a_success_or_cancel_or_before_any_run(tmp_path):
    paths, entries, dump_id = _waiting(tmp_path)
    failed = PastRun(dump_id, "failed", 0.0)
    going = PastRun(dump_id, "pending", None)
    done = PastRun(dump_id, "succeeded", 1.0)
    stopped = PastRun(dump_id, "canceled", 1.0)
    for runs in ([], [failed, going], [failed, done], [failed, stopped]):
        assert plan_retries(paths, entries, runs, now=1e9) == ([], [])
    settling = {"result.json": InboxEntry(10, 1, 1)}
    assert plan_retries(paths, settling, [failed], now=1e9) == ([], [])
