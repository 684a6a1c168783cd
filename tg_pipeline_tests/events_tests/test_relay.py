"""Outbox → Kafka against a real broker: acks decide, nothing is lost, nothing doubles."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from tg_pipeline.events import KafkaSettings, Outbox, emit, make_audit_event, make_count_event
from tg_pipeline.events.consumer import consume_audit_log
from tg_pipeline.events.relay import Relay
from tg_pipeline.ingest import DataPaths, RunContext, ingest_staged, outbox_sink, stage_dump
from tg_pipeline.records import ReadOptions
from tg_pipeline.warehouse import CountSnapshot, Warehouse
from tg_pipeline_tests.kafka_broker import LoopbackProxy, TansuBroker, free_port, read_topic

FIXTURES_DIR = Path(__file__).resolve().parents[1] / "fixtures"


def decoded(messages: list[tuple[bytes | None, bytes | None]]) -> list[dict]:
    return [orjson.loads(value) for _key, value in messages if value is not None]


def ingest(warehouse: Warehouse, data_dir: Path, sources: list[Path], run_id: str) -> list[dict]:
    """The pipeline's ingest path without Dagster: stage, upsert, recount, emit."""
    paths = DataPaths.under(data_dir).ensure()
    run = RunContext(run_id=run_id, job="ingest_job", emit=outbox_sink(paths.data_dir))
    for source in sources:
        ingest_staged(stage_dump(source, paths), warehouse, paths, ReadOptions(), run=run)
    events = [
        make_count_event(s, run_id=run_id, job="ingest_job") for s in warehouse.refresh_counts()
    ]
    emit(paths.data_dir, events)
    return events


def senders_in_json(path: Path) -> Counter[tuple[int, str]]:
    """What the counts must be, straight from the export: messages per (chat, from_id)."""
    chat = json.loads(path.read_text(encoding="utf-8"))
    return Counter((chat["id"], m["from_id"]) for m in chat["messages"] if m["type"] == "message")


def test_count_events_one_per_sender_and_reingest_adds_none(
    outbox: Outbox, kafka_settings: KafkaSettings, warehouse: Warehouse, seed_dir: Path, tmp_path
) -> None:
    synthetic = FIXTURES_DIR / "features" / "json" / "result.json"
    sources = [seed_dir / "result.json", seed_dir / "messages.html", synthetic]
    expected = senders_in_json(seed_dir / "result.json") + senders_in_json(synthetic)
    events = ingest(warehouse, outbox.path.parent, sources, "run-1")
    assert len(events) == len(expected) == 12
    relay = Relay(outbox, kafka_settings)
    result = relay.publish_pending()
    assert (result.failed, result.pending, result.error) == (0, 0, None)
    assert result.delivered == 12 + 3  # the counts and one dump_ingested audit event per dump

    topic = kafka_settings.counts_topic
    messages = read_topic(kafka_settings.bootstrap_servers, topic, expect_at_least=12)
    assert len(messages) == 12
    by_key = {key.decode(): orjson.loads(value) for key, value in messages}
    assert {k: e["message_count"] for k, e in by_key.items()} == {
        f"{chat}:{sender}": n for (chat, sender), n in expected.items()
    }
    assert by_key["1124496986:user496709216"]["sender_name"] == "user1"

    # The same dumps again: nothing changes, so no count event; republishing every current
    # count gives ids the outbox already holds.
    assert ingest(warehouse, outbox.path.parent, sources, "run-2") == []
    current = warehouse.con.execute(
        "SELECT chat_id, sender_key, sender_name, message_count, first_message_at,"
        " last_message_at FROM user_message_counts"
    ).fetchall()
    assert outbox.add(make_count_event(CountSnapshot(*row), run_id="run-3") for row in current) == 0
    assert relay.publish_pending().delivered == 3  # only run-2's dump_ingested events
    again = read_topic(kafka_settings.bootstrap_servers, topic, expect_at_least=12)
    assert sorted(again) == sorted(messages)


def test_unreachable_broker_then_reachable_delivers_everything_once(
    outbox: Outbox,
    kafka_settings: KafkaSettings,
    warehouse: Warehouse,
    seed_dir: Path,
    tmp_path: Path,
) -> None:
    """Ingest and backup never need the broker; once it is reachable every event arrives."""
    broker_port = int(kafka_settings.bootstrap_servers.rsplit(":", 1)[1])
    gate = LoopbackProxy(broker_port)  # not started: its port refuses connections
    settings = replace(kafka_settings, bootstrap_servers=f"127.0.0.1:{gate.port}")
    relay = Relay(outbox, settings)

    counts = ingest(warehouse, outbox.path.parent, [seed_dir / "result.json"], "run-x")
    backup = warehouse.backup(tmp_path / "backups", fmt="parquet")
    assert warehouse.verify_backup(backup.path).ok
    audits = [
        make_audit_event("run_started", run_id="run-x", job="ingest_job"),
        make_audit_event("run_failed", run_id="run-x", job="ingest_job", error="disk full"),
    ]
    emit(outbox.path.parent, audits)
    pending = outbox.pending_count()
    assert pending == len(counts) + 1 + 2
    down = relay.publish_pending(timeout_s=6)
    assert (down.delivered, down.pending) == (0, pending)
    assert "did not answer" in (down.error or "")
    assert outbox.backlog().last_error == down.error

    with gate:
        up = relay.publish_pending(timeout_s=30)
        assert (up.delivered, up.failed, up.pending, up.error) == (pending, 0, 0, None)
        assert outbox.backlog().last_error is None
        seen = read_topic(settings.bootstrap_servers, settings.counts_topic, expect_at_least=6)
        assert sorted(e["event_id"] for e in decoded(seen)) == sorted(e["event_id"] for e in counts)
        consumed = consume_audit_log(settings, warehouse, "unreachable-test")
    assert consumed.new_rows == 3
    rows = warehouse.con.execute(
        "SELECT event_type, count(*) FROM audit_log GROUP BY event_type ORDER BY 1"
    ).fetchall()
    assert rows == [("dump_ingested", 1), ("run_failed", 1), ("run_started", 1)]


def test_relay_without_broker_configured_only_reports_the_backlog(outbox: Outbox) -> None:
    outbox.add([make_audit_event("run_started", run_id="r")])
    result = Relay(outbox, KafkaSettings()).publish_pending()
    assert result.skipped and result.pending == 1
    assert "1 events pending" in result.summary()


@pytest.mark.slow
def test_cut_network_mid_publish_loses_nothing(outbox: Outbox, tmp_path, audit_store) -> None:
    """50,000 events; the connection is cut mid-way (once some were acknowledged and 20,000
    handed to the producer) and stays down longer than the delivery timeout. A later pass
    (with a fresh producer) delivers the rest, and after dedupe every event_id is stored
    exactly once."""
    total = 50_000
    broker_port = free_port()
    proxy = LoopbackProxy(broker_port).start()
    broker = TansuBroker(port=broker_port, advertised_port=proxy.port, log=tmp_path / "tansu.log")
    settings = KafkaSettings(
        bootstrap_servers=f"127.0.0.1:{proxy.port}",
        topic_prefix="cut",
        partitions=3,
        delivery_timeout_ms=3_000,
        session_timeout_ms=2_000,
    )
    events = [
        make_audit_event("log_warning", run_id=f"run-{i % 40}", message=f"m{i}", identity=str(i))
        for i in range(total)
    ]
    outbox.add(events)
    cut_for_s = 4.0
    cut_at: list[float] = []

    def cut_mid_way(sent: int, delivered: int) -> None:
        if not cut_at and sent >= 20_000 and (delivered or sent >= 40_000):
            proxy.cut()
            cut_at.append(time.monotonic())
            threading.Timer(cut_for_s, proxy.restore).start()

    started = time.monotonic()
    with broker:
        try:
            relay = Relay(outbox, settings, batch_size=5_000, progress=cut_mid_way)
            first = relay.publish_pending(timeout_s=20)
            assert cut_at, "the relay finished before the cut"
            assert first.failed > 0 and first.pending > 0, first
            passes = [first]
            while outbox.pending_count() and time.monotonic() - started < 45:
                passes.append(relay.publish_pending(timeout_s=15))
                if passes[-1].error:
                    time.sleep(0.5)
            assert outbox.pending_count() == 0, passes
            assert time.monotonic() - cut_at[0] > cut_for_s
            assert relay.sessions_started >= 2
            assert sum(p.delivered for p in passes) == total

            raw = read_topic(
                settings.bootstrap_servers, settings.audit_topic, expect_at_least=total
            )
            raw_ids = [e["event_id"] for e in decoded(raw)]
            consumed = consume_audit_log(settings, audit_store, "cut-test", batch_size=5_000)
        finally:
            proxy.cut()
    expected = {e["event_id"] for e in events}
    assert set(raw_ids) == expected
    assert consumed.consumed == len(raw_ids) >= total
    assert consumed.new_rows == total
    stored = audit_store.con.execute(
        "SELECT count(*), count(DISTINCT event_id) FROM audit_log"
    ).fetchone()
    assert stored == (total, total)
    print(
        f"cut test: {first.delivered} delivered before the cut, "
        f"{len(raw_ids) - total} duplicates on the topic, {len(passes)} passes, "
        f"{relay.sessions_started} producer sessions, {time.monotonic() - started:.1f} s"
    )


@pytest.mark.parametrize("partitions", [1])
def test_relay_preserves_order_within_a_run(
    outbox: Outbox, kafka_settings: KafkaSettings, partitions: int
) -> None:
    kinds = ["run_started", "asset_materialized", "log_warning", "run_succeeded"]
    for run in ("r1", "r2"):
        for kind in kinds:
            extra = {
                "asset_materialized": {"asset_key": "messages", "metadata": {"new": 3}},
                "log_warning": {"message": "slow"},
            }.get(kind, {})
            outbox.add([make_audit_event(kind, run_id=run, job="ingest_job", **extra)])
    Relay(outbox, kafka_settings).publish_pending()
    messages = read_topic(
        kafka_settings.bootstrap_servers, kafka_settings.audit_topic, expect_at_least=8
    )
    for run in ("r1", "r2"):
        got = [e["event_type"] for e in decoded(messages) if e["run_id"] == run]
        assert got == kinds


def test_one_relay_at_a_time(outbox: Outbox, kafka_settings: KafkaSettings) -> None:
    outbox.add([make_audit_event("run_started", run_id="r")])
    with outbox.relay_lock() as mine:
        assert mine
        busy = Relay(outbox, kafka_settings).publish_pending()
        assert busy.skipped == "another relay holds the outbox"
        assert busy.pending == 1
    assert Relay(outbox, kafka_settings).publish_pending().delivered == 1
