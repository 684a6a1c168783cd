"""Telegram Desktop HTML exports (``messages.html``, ``messages2.html``, …) to records.

Pages are independent documents of up to 1000 entries, so they are parsed in parallel
worker processes (lexbor through selectolax, many times faster than BeautifulSoup) and
their results are consumed strictly in page order with a bounded number of pages in
flight, so memory stays flat however many pages a dump has. Workers return one Arrow batch per page.

A whole-account export holds many chats, each in its own ``chats/chat_NNN/`` folder, with
``lists/chats.html`` naming each chat's type: pages are read in the same way, folder by
folder, and nothing carries over from one chat's folder to the next.

Each page links its neighbours ("Previous messages", "Next messages"). A page that a link
names but the dump lacks (a gap in the numbers, a renamed first page) is reported as a
warning naming it; the pages present are read, since each of their records stands on its
own and a later complete export of the chat fills the gap without duplicates.

Two facts cross page boundaries, and the parent process settles them while streaming:

- a joined message (``div.message.default.joined``, no ``from_name``) has the sender,
  via-bot and forward origin of the message before it, which may sit on the previous page;
- a service entry has no time; one before the page's first dated message takes the
  instant of the last record of the previous page (see ``html_page`` for the full rule).
"""

from __future__ import annotations

import logging
import os
import re
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import pyarrow as pa

from tg_pipeline.errors import DumpError
from tg_pipeline.readers.html_account import ListedChat, is_chat_list, read_chat_list
from tg_pipeline.readers.html_page import PageResult, parse_page, parse_page_job
from tg_pipeline.readers.workers import pool_context, watch_owner
from tg_pipeline.records import UTC_US, ReadOptions

_PAGE_NAME = re.compile(r"messages(\d*)\.html?", re.IGNORECASE)

#: Pages queued per worker: enough to keep every core busy, few enough to bound memory.
PAGES_IN_FLIGHT_PER_WORKER = 2

logger = logging.getLogger("tg_pipeline.readers")


def page_number(path: Path) -> int | None:
    """1 for ``messages.html`` (and a stray ``messages1.html``), N for ``messagesN.html``."""
    match = _PAGE_NAME.fullmatch(path.name)
    if match is None:
        return None
    return int(match.group(1) or 1)


def order_pages(paths: Iterable[Path]) -> list[Path]:
    """Pages in reading order: by folder, then page number (``messages10`` after ``9``).

    Files not named like a page sort after the pages of their folder, by name.
    """

    def key(path: Path) -> tuple[str, int, int, str]:
        number = page_number(path)
        if number is None:
            return (str(path.parent), 1, 0, path.name)
        return (str(path.parent), 0, number, path.name)

    return sorted((Path(p) for p in paths), key=key)


def _sequential(pages: Sequence[Path], options: ReadOptions) -> Iterator[PageResult]:
    for page in pages:
        yield parse_page(str(page), options.default_zone, options.chat_id)


def _parallel(pages: Sequence[Path], options: ReadOptions, workers: int) -> Iterator[PageResult]:
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=pool_context(),
        initializer=watch_owner,
        initargs=(os.getpid(),),
    )
    in_flight: deque[tuple[Path, Future[Any]]] = deque()
    queue = iter(pages)

    def submit() -> None:
        page = next(queue, None)
        if page is not None:
            job = pool.submit(parse_page_job, str(page), options.default_zone, options.chat_id)
            in_flight.append((page, job))

    try:
        for _ in range(workers * PAGES_IN_FLIGHT_PER_WORKER):
            submit()
        while in_flight:
            page, job = in_flight.popleft()
            try:
                status, payload = job.result()
            except BrokenProcessPool:
                raise DumpError(
                    "an HTML worker process died while reading this page", file=page
                ) from None
            except Exception as exc:
                raise DumpError(
                    f"HTML worker failed: {type(exc).__name__}: {exc}", file=page
                ) from None
            if status == "error":
                message, file, position = payload
                raise DumpError(message, file=file, position=position)
            submit()
            yield payload
    finally:
        for _, job in in_flight:
            job.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def _replace(batch: pa.RecordBatch, changes: dict[str, dict[int, Any]]) -> pa.RecordBatch:
    arrays = list(batch.columns)
    for name, values_by_row in changes.items():
        index = batch.schema.get_field_index(name)
        column = arrays[index]
        if column.type == UTC_US:
            values = column.cast(pa.int64()).to_pylist()
            for row, seconds in values_by_row.items():
                values[row] = seconds * 1_000_000
            arrays[index] = pa.array(values, type=pa.int64()).cast(UTC_US)
        else:
            values = column.to_pylist()
            for row, value in values_by_row.items():
                values[row] = value
            arrays[index] = pa.array(values, type=column.type)
    return pa.RecordBatch.from_arrays(arrays, schema=batch.schema)


class _Stitcher:
    """Carries sender and time state from page to page and fills in what pages left open."""

    def __init__(self) -> None:
        self.state: dict[str, str | None] = {}
        self.instant: int | None = None
        self.separator: int | None = None

    def apply(self, page: PageResult) -> pa.RecordBatch | None:
        changes: dict[str, dict[int, Any]] = {}
        for row, fields in page.pending_senders:
            for name in fields:
                changes.setdefault(name, {})[row] = self.state.get(name)
        for row, midnight, position in page.pending_times:
            separator = midnight if midnight is not None else self.separator
            instant = self.instant
            if separator is not None and (instant is None or separator > instant):
                instant = separator
            elif instant is None:
                # Nothing dated before it and no day separator: the next message's day.
                instant = page.first_instant
            if instant is None:
                raise DumpError(
                    "service entry with no dated message or day separator to take a time from",
                    file=page.path,
                    position=position,
                )
            changes.setdefault("sent_at", {})[row] = instant
            self.instant = instant
        if page.last_instant is not None:
            self.instant = page.last_instant
        if page.last_separator is not None:
            self.separator = page.last_separator
        self.state.update(page.tail_state)
        batch = page.batch
        if batch is not None and changes:
            batch = _replace(batch, changes)
        return batch


def _rechunk(batches: Iterator[pa.RecordBatch], size: int) -> Iterator[pa.RecordBatch]:
    held: list[pa.RecordBatch] = []
    rows = 0
    for batch in batches:
        held.append(batch)
        rows += batch.num_rows
        while rows >= size:
            combined = held[0] if len(held) == 1 else pa.concat_batches(held)
            yield combined.slice(0, size)
            rest = combined.slice(size)
            held = [rest] if rest.num_rows else []
            rows = rest.num_rows
    if rows:
        yield held[0] if len(held) == 1 else pa.concat_batches(held)


class _PageChain:
    """Checks a chat folder's pages against the neighbours their links name.

    Only a page the dump lacks is reported: pages present in an unexpected order (copies,
    hand-made folders) are read as they are, as before.
    """

    def __init__(self, present: set[Path]) -> None:
        self.present = present
        self.last: Path | None = None
        self.next_name: str | None = None
        self.missing: list[tuple[Path, Path, str]] = []

    def add(self, path: Path, page: PageResult) -> None:
        previous = page.previous_page
        if self.last is None:
            if previous:
                self._lack(path.parent / previous, path, "previous")
        else:
            if self.next_name and self.next_name != path.name:
                self._lack(path.parent / self.next_name, self.last, "next")
            if previous and previous != self.last.name:
                self._lack(path.parent / previous, path, "previous")
        self.last = path
        self.next_name = page.next_page

    def end(self) -> None:
        if self.last is not None and self.next_name:
            self._lack(self.last.parent / self.next_name, self.last, "next")
        self.last = None
        self.next_name = None

    def _lack(self, missing: Path, linked_from: Path, which: str) -> None:
        if missing in self.present or any(seen == missing for seen, _, _ in self.missing):
            return
        self.missing.append((missing, linked_from, which))
        logger.warning(
            "%s: missing page: %s links to it as its %s page; the pages present are read "
            "without it",
            missing,
            linked_from.name,
            which,
        )


def _with_chat(batch: pa.RecordBatch, chat: ListedChat) -> pa.RecordBatch:
    """A whole-account chat's type, and its listed name where its pages gave none."""
    rows = batch.num_rows
    index = batch.schema.get_field_index("chat_type")
    batch = batch.set_column(
        index, batch.schema.field(index), pa.array([chat.type] * rows, pa.string())
    )
    names = batch.column("chat_name")
    if names.null_count and chat.name is not None:
        index = batch.schema.get_field_index("chat_name")
        filled = names.fill_null(chat.name)
        batch = batch.set_column(index, batch.schema.field(index), filled)
    return batch


def _warn_shared_names(listed: dict[str, ListedChat], folders: set[str]) -> None:
    """Say when chats of one account share a name: HTML gives them no ids, so they are
    one chat to the warehouse, which keys an HTML chat by its name."""
    by_name: dict[str | None, list[str]] = {}
    for folder in sorted(folders):
        chat = listed.get(os.path.normpath(folder))
        if chat is not None:
            by_name.setdefault(chat.name, []).append(Path(folder).name)
    for name, shared in by_name.items():
        if len(shared) > 1:
            logger.warning(
                "%s: chats %s are all named %r; with no chat ids in HTML they are stored "
                "as one chat (drop each folder on its own with its chat id to keep them "
                "apart, or use the JSON export)",
                Path(next(iter(folders))).parent,
                ", ".join(shared),
                name,
            )


def read_html_export(
    pages: Sequence[Path], options: ReadOptions | None = None
) -> Iterator[pa.RecordBatch]:
    """Records of the given pages (already in reading order) as batches, in export order.

    Uses ``options.workers`` processes (default: all cores) when there is more than one
    page. Any bad page rejects the whole dump with a :class:`DumpError` naming the file
    and the element. Pages of several folders (a whole-account export, whose
    ``lists/chats.html`` may be among ``pages``) are read as one chat per folder.
    """
    options = options or ReadOptions()
    paths = [Path(page) for page in pages]
    listed: dict[str, ListedChat] = {}
    for lists in [p for p in paths if is_chat_list(p)]:
        listed.update(read_chat_list(lists))
        paths.remove(lists)
    if not paths:
        raise DumpError("no messages*.html pages to read")
    account = bool(listed) or len({path.parent for path in paths}) > 1
    if account and options.chat_id is not None:
        raise DumpError(
            "a chat id was given, but this HTML export holds several chats; "
            "give the id with one chat's folder",
            file=paths[0].parent,
        )
    _warn_shared_names(listed, {str(path.parent) for path in paths})
    workers = min(options.workers or os.cpu_count() or 1, len(paths))
    results = _parallel(paths, options, workers) if workers > 1 else _sequential(paths, options)

    def stitched() -> Iterator[pa.RecordBatch]:
        stitcher = _Stitcher()
        chain = _PageChain(set(paths))
        folder: Path | None = None
        chat: ListedChat | None = None
        for page in results:
            path = Path(page.path)
            if path.parent != folder:
                # A new chat of a whole-account export: nothing carries over.
                chain.end()
                folder = path.parent
                stitcher = _Stitcher()
                chat = listed.get(os.path.normpath(folder)) if account else None
            chain.add(path, page)
            batch = stitcher.apply(page)
            if batch is not None and batch.num_rows:
                if chat is not None:
                    batch = _with_chat(batch, chat)
                yield batch
        chain.end()

    try:
        yield from _rechunk(stitched(), max(options.batch_size, 1))
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()
