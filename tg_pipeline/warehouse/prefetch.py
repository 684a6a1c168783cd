"""An iterator run on a helper thread, a few items ahead of its consumer.

Ingest and backup both pair Python work (parsing a dump, writing a file) with DuckDB work
that releases the GIL; running one side on a helper thread lets the two overlap on two
cores instead of taking turns.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any

DEFAULT_DEPTH = 2


class Prefetch:
    """Runs an iterator on a helper thread, ``depth`` items ahead of the consumer.

    The iterator's own exception is re-raised in the consumer unchanged. Closing stops the
    helper at its next item and closes the iterator on the helper's own thread (a
    generator must be closed where it runs), so a reader's clean-up still happens.
    """

    def __init__(self, items: Iterable[Any], depth: int = DEFAULT_DEPTH) -> None:
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(iter(items),), name="tg-ingest-reader", daemon=True
        )
        self._thread.start()

    def _run(self, items: Iterator[Any]) -> None:
        try:
            for item in items:
                if not self._put(("item", item)):
                    return
            self._put(("end", None))
        except BaseException as exc:
            self._put(("error", exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    def _put(self, entry: tuple[str, Any]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[Any]:
        while True:
            kind, value = self._queue.get()
            if kind == "item":
                yield value
            elif kind == "end":
                return
            else:
                raise value

    def close(self) -> None:
        self._stop.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.05)
        self._thread.join()

    def __enter__(self) -> Prefetch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
