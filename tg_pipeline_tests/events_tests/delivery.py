"""What the delivery tests share: the user's commands as processes, and a plain reader.

The reader is confluent-kafka and nothing of the project, so what it sees is what any
consumer of the topics sees.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CLI = BIN / "tg-pipeline"
DAGSTER = BIN / "dagster"
DAEMON = BIN / "dagster-daemon"
SEED_CHAT_ID = 1124496986
CROWD_CHAT_ID = 777_000_001
#: How long after a command returns its events must be readable (acceptance bound).
VISIBLE_WITHIN_S = 20.0


@dataclass
class Setup:
    """One data directory, one instance, one broker and topics of its own."""

    root: Path
    bootstrap: str
    prefix: str = field(default_factory=lambda: f"it-{uuid.uuid4().hex[:10]}")
    extra_env: dict[str, str] = field(default_factory=dict)
    #: The Dagster instance's directory; another one stands for another instance.
    home_name: str = "dagster_home"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def home(self) -> Path:
        return self.data_dir / self.home_name

    @property
    def inbox(self) -> Path:
        return self.data_dir / "inbox"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TG_", "DAGSTER_"))}
        env.pop("VIRTUAL_ENV", None)
        env.update(
            TG_DATA_DIR=str(self.data_dir),
            DAGSTER_HOME=str(self.home),
            TG_KAFKA_BOOTSTRAP=self.bootstrap,
            TG_KAFKA_TOPIC_PREFIX=self.prefix,
            TG_KAFKA_DELIVERY_TIMEOUT_MS="5000",
            # The inbox sensor never takes a drop here: `dagster job execute` does.
            TG_SETTLE_SECONDS="3600",
            COLUMNS="200",
        )
        env.update(self.extra_env)
        env.update(extra)
        return env

    def prepare(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / "dagster.yaml", self.home / "dagster.yaml")

    def cli(self, *args: str, timeout: float = 180, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(CLI), "--data-dir", str(self.data_dir), *args],
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def job_execute(self, job: str, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(DAGSTER), "job", "execute", "-m", "tg_pipeline.definitions", "-j", job],
            cwd=self.root,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    @contextmanager
    def daemon(self, **env: str) -> Iterator[subprocess.Popen]:
        log = (self.root / "daemon.log").open("w")
        proc = subprocess.Popen(
            [str(DAEMON), "run", "-m", "tg_pipeline.definitions"],
            cwd=self.root,
            env=self.env(**env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            log.close()


def read_topics(bootstrap: str, prefix: str) -> list[dict]:
    """Every event on ``<prefix>.user-counts`` and ``<prefix>.audit``, from the start."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    metadata = admin.list_topics(timeout=10)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    events: list[dict] = []
    try:
        for topic in (f"{prefix}.user-counts", f"{prefix}.audit"):
            if topic not in metadata.topics:
                continue
            parts = metadata.topics[topic].partitions
            consumer.assign([TopicPartition(topic, p, 0) for p in parts])
            # Read until the topic stays quiet; high watermarks are not used, since a
            # Kafka-protocol broker may report them lazily.
            quiet_since = time.monotonic()
            while time.monotonic() - quiet_since < 1.5:
                msg = consumer.poll(0.2)
                if msg is None or msg.error():
                    continue
                events.append(json.loads(msg.value()))
                quiet_since = time.monotonic()
    finally:
        consumer.close()
    return events


def wait_for_events(
    setup: Setup, ready: Callable[[list[dict]], bool], within_s: float = VISIBLE_WITHIN_S
) -> list[dict]:
    """Read the topics until ``ready`` holds; the last read when time runs out."""
    deadline = time.monotonic() + within_s
    while True:
        events = read_topics(setup.bootstrap, setup.prefix)
        if ready(events) or time.monotonic() >= deadline:
            return events
        time.sleep(0.5)


def latest_counts(events: list[dict], chat_id: int) -> dict[str, int]:
    latest: dict[str, tuple[str, int]] = {}
    for e in events:
        if e["event_type"] == "user_count" and e["chat_id"] == chat_id:
            key = e["sender_key"]
            if key not in latest or e["occurred_at"] >= latest[key][0]:
                latest[key] = (e["occurred_at"], e["message_count"])
    return {k: v for k, (_, v) in latest.items()}


def lifecycle(events: list[dict], run_id: str) -> list[str]:
    return [
        e["event_type"]
        for e in events
        if e["run_id"] == run_id and e["event_type"].startswith("run_")
    ]


def duplicates(events: list[dict]) -> list[str]:
    seen: set[str] = set()
    doubled = []
    for e in events:
        if e["event_id"] in seen:
            doubled.append(e["event_id"])
        seen.add(e["event_id"])
    return doubled


def crowd_export(path: Path, senders: int) -> Path:
    """One chat where each of ``senders`` people wrote one message."""
    messages = [
        {
            "id": i,
            "type": "message",
            "date": "2024-05-01T10:00:00",
            "date_unixtime": str(1714557600 + i),
            "from": f"Person {i}",
            "from_id": f"user{1_000_000 + i}",
            "text": "hello",
            "text_entities": [{"type": "plain", "text": "hello"}],
        }
        for i in range(1, senders + 1)
    ]
    chat = {"name": "crowd", "type": "private_supergroup", "id": CROWD_CHAT_ID}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**chat, "messages": messages}), encoding="utf-8")
    return path
