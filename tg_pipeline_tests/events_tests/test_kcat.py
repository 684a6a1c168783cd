"""Someone else's Kafka client (Debian's kcat) reads the count topic as documented.

Against Tansu, kcat goes through :class:`KcatCompatProxy`: kcat 1.7.1's librdkafka 2.0.2
cannot parse the default-valued tagged fields Tansu puts in its ApiVersions response. With
``TG_KAFKA_BOOTSTRAP`` pointing at a real Kafka broker, kcat talks to it directly.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest

from tg_pipeline.events import KafkaSettings, Outbox, make_count_event
from tg_pipeline.events.model import load_schema
from tg_pipeline.events.relay import Relay
from tg_pipeline_tests.events_tests.delivery import Setup
from tg_pipeline_tests.kafka_broker import BOOTSTRAP_ENV, KcatCompatProxy, TansuBroker, free_port


@dataclass(frozen=True)
class Snapshot:
    chat_id: int
    sender_key: str
    sender_name: str | None
    message_count: int
    first_message_at: datetime
    last_message_at: datetime


def kcat_binary() -> str:
    path = shutil.which("kcat") or shutil.which("kafkacat")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("kcat is not installed; .ci/run installs it (apt-get install kcat)")
        pytest.skip("kcat is not installed (apt-get install kcat)")
    return path


@pytest.fixture
def kcat_settings(kafka_settings: KafkaSettings, tmp_path: Path) -> Iterator[KafkaSettings]:
    if os.environ.get(BOOTSTRAP_ENV):
        yield kafka_settings
        return
    broker_port = free_port()
    with (
        KcatCompatProxy(broker_port) as proxy,
        TansuBroker(port=broker_port, advertised_port=proxy.port, log=tmp_path / "tansu.log"),
    ):
        yield replace(
            kafka_settings,
            bootstrap_servers=f"127.0.0.1:{proxy.port}",
            topic_prefix=f"kcat-{uuid.uuid4().hex[:8]}",
        )


def test_kcat_reads_count_events_that_match_the_schema(
    outbox: Outbox, kcat_settings: KafkaSettings
) -> None:
    kcat = kcat_binary()
    kafka_settings = kcat_settings
    start = datetime(2022, 2, 24, 5, 0, tzinfo=UTC)
    snaps = [
        Snapshot(777000, "user1", "Ärger Ünd Ölig", 41, start, start + timedelta(days=3)),
        Snapshot(777000, "channel9", None, 2, start, start),
        Snapshot(-1001234, "user1", 'A "quoted" name', 1, start, start),
    ]
    outbox.add([make_count_event(s, run_id="r", job="ingest_job", dump="d") for s in snaps])
    assert Relay(outbox, kafka_settings).publish_pending().delivered == 3

    out = subprocess.run(
        [
            kcat,
            "-b",
            kafka_settings.bootstrap_servers,
            "-C",
            "-t",
            kafka_settings.counts_topic,
            "-e",
            "-q",
            "-J",
        ],
        capture_output=True,
        timeout=60,
        check=True,
    )
    records = [json.loads(line) for line in out.stdout.decode("utf-8").splitlines() if line]
    assert len(records) == 3
    validator = jsonschema.Draft202012Validator(
        load_schema("user_count"), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    by_key = {}
    for record in records:
        event = json.loads(record["payload"])
        validator.validate(event)
        assert record["key"] == f"{event['chat_id']}:{event['sender_key']}"
        by_key[record["key"]] = event
    assert by_key["777000:user1"]["sender_name"] == "Ärger Ünd Ölig"
    assert by_key["777000:user1"]["message_count"] == 41
    assert by_key["777000:user1"]["last_message_at"] == "2022-02-27T05:00:00.000000Z"
    assert by_key["777000:channel9"]["sender_name"] is None


@pytest.mark.slow
def test_readme_events_walkthrough(
    kcat_settings: KafkaSettings, seed_dir: Path, tmp_path: Path
) -> None:
    """The README's walkthrough as pasted: ingest with a broker set, then its kcat lines."""
    kcat = kcat_binary()
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    lines = [
        line.split("#")[0].strip()
        for line in readme.split("### Events: a walkthrough", 1)[1].split("```")[1].splitlines()
    ]
    reads = [line for line in lines if line.startswith("kcat ")]
    assert len(reads) == 2 and any(line.startswith("tg-pipeline ingest") for line in lines)
    setup = Setup(tmp_path, kcat_settings.bootstrap_servers, prefix=kcat_settings.topic_prefix)
    setup.prepare()
    ingest = setup.cli("ingest", str(seed_dir / "result.json"))
    assert ingest.returncode == 0, ingest.stdout + ingest.stderr
    assert "wait for Kafka" not in ingest.stderr

    printed = {}
    for line in reads:
        args = shlex.split(
            line.replace("localhost:9092", kcat_settings.bootstrap_servers).replace(
                " tg.", f" {kcat_settings.topic_prefix}."
            )
        )
        out = subprocess.run([kcat, *args[1:], "-q"], capture_output=True, timeout=60, check=True)
        printed[args[args.index("-t") + 1].rsplit(".", 1)[1]] = out.stdout.decode().splitlines()
    counts = [json.loads(line.split(" ", 1)[1]) for line in printed["user-counts"]]
    assert sum(e["message_count"] for e in counts) == 10
    keys = [line.split(" ", 1)[0] for line in printed["user-counts"]]
    assert keys == [f"{e['chat_id']}:{e['sender_key']}" for e in counts]
    audit = [json.loads(line.split(" ", 1)[1])["event_type"] for line in printed["audit"]]
    assert audit[0] == "run_started" and audit[-1] == "run_succeeded"
