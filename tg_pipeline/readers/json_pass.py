"""One pass over a JSON export: feed the C parser, walk the half-built tree after every
chunk, take out the finished messages and prune what is not read.

Imports only the JSON reader's own modules and the record schema.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import ijson
import orjson
import pyarrow as pa

from tg_pipeline.errors import DumpError
from tg_pipeline.readers import json_chain
from tg_pipeline.readers.json_chain import Sink
from tg_pipeline.readers.json_chat import Chat, MetadataFound, Section
from tg_pipeline.readers.json_depth import MAX_DEPTH, DepthExceeded, feed_bounded, tree_depth
from tg_pipeline.readers.json_message import SOURCE_POSITION
from tg_pipeline.readers.json_repair import RepairingStream
from tg_pipeline.readers.progress import note_bytes
from tg_pipeline.readers.rebatch import Regroup
from tg_pipeline.records import BatchBuilder, ReadOptions

#: Rows turned into Arrow at a time. The builder walks its rows column by column; a few
#: thousand rows keep their objects in the CPU cache for that. The parts are joined into
#: the batch size the caller asked for.
PART_ROWS = 2048

_SECTIONS = ("chats", "left_chats")
_CHAT_KEYS = frozenset({"name", "type", "id", "messages"})
_WHITESPACE = b" \t\r\n"
#: The deepest level a skipped value is pruned at: ``chats.list[i].<key>`` in an account.
_SKIPPED_LEVEL = 5


class NeedsCarefulRepair(Exception):
    """yajl met a raw control character inside a string: read again in careful mode."""


def _last_key(obj: dict[str, Any]) -> str | None:
    return next(reversed(obj), None)


def _prune(value: Any) -> list[Any]:
    """Empty a skipped value, including the containers the parser is still filling.

    Returns the containers emptied, outermost first: the parser may go on filling them,
    detached from the tree, and the nesting limit still has to see them.
    """
    emptied: list[Any] = []
    while True:
        if type(value) is list:
            following = value[-1] if value else None
        elif type(value) is dict:
            following = next(reversed(value.values()), None) if value else None
        else:
            return emptied
        value.clear()
        emptied.append(value)
        value = following


class JsonPass:
    """One pass over the file. ``skip`` drops rows a previous pass already yielded;
    ``collect_only`` names a chat whose fields are wanted and makes the pass emit nothing.
    ``positions`` false leaves ``source_position`` null, for a caller that numbers the
    rows itself and reads the pass's errors again from a pass that numbers them."""

    def __init__(
        self,
        path: Path,
        options: ReadOptions,
        *,
        careful: bool,
        skip: int = 0,
        collect_only: str | None = None,
        source: Callable[[], BinaryIO] | None = None,
        positions: bool = True,
    ) -> None:
        self.path = path
        self.positions = positions
        self.source = source
        self.file = str(path)
        self.options = options
        self.zone_name = options.default_zone
        self.careful = careful
        self.skip = skip
        self.collect_only = collect_only
        parts = -(-options.batch_size // PART_ROWS)
        self.builder = BatchBuilder(-(-options.batch_size // parts))
        self.ready: list[pa.RecordBatch] = []
        self.regroup = Regroup(options.batch_size)
        #: The document's root object: the first object the parser creates is this one.
        self.root: dict[str, Any] | None = {}
        self.root_chat: Chat | None = None
        self.sections: dict[str, Section] = {}
        self.found = False
        self.repaired = 0
        self.fed = 0
        self.stream: RepairingStream | None = None
        #: The containers of the skipped value pruned last, which the parser may still fill.
        self.skipped: list[Any] = []

    def _new_map(self) -> Callable[[], dict[str, Any]]:
        """The parser's object factory: the root first, then new dicts, without a Python
        call per object (exports have several objects per message)."""
        return functools.partial(next, itertools.chain((self.root,), iter(dict, None)))

    # -- output ---------------------------------------------------------------------

    def emit(self, row: list[Any]) -> None:
        if self.skip:
            self.skip -= 1
            return
        try:
            batch = self.builder.append_values(row)
        except (pa.ArrowException, orjson.JSONEncodeError, TypeError, ValueError) as exc:
            raise self.store_error(exc, row[SOURCE_POSITION]) from None
        if batch is not None:
            self.ready.append(batch)

    def store_error(self, exc: Exception, position: str | None) -> DumpError:
        """A record the builder cannot turn into Arrow: a hand-made file's odd value."""
        where = f"in the batch of records ending at {position}" if position else None
        return DumpError(f"a value cannot be stored: {exc}", file=self.file, position=where)

    # -- the pass -------------------------------------------------------------------

    def batches(self) -> Iterator[pa.RecordBatch]:
        try:
            handle = self.source() if self.source else open(self.path, "rb")  # noqa: SIM115
        except OSError as exc:
            raise DumpError(f"cannot open: {exc.strerror or exc}", file=self.file) from None
        with handle:
            stream = self.stream = RepairingStream(handle, careful=self.careful)
            sink = Sink()
            parser = json_chain.build_chain(sink, self._new_map())
            started = False
            collect = gc.isenabled()
            try:
                for chunk in stream.chunks():
                    if not started:
                        started = self._check_start(chunk)
                    self.repaired = stream.repaired
                    # Cyclic GC passes over the parser's many short-lived, acyclic
                    # containers would cost much of the reading time; one per chunk is enough.
                    if collect:
                        gc.disable()
                    try:
                        feed_bounded(parser.send, chunk, self._depth)
                        self.fed += len(chunk)
                        if self.source is None and self.collect_only is None:
                            note_bytes(self.path, self.fed)
                        sink.clear()
                        self._drain(final=False)
                    except ijson.JSONError as exc:
                        raise self._syntax_error(exc, chunk) from None
                    except DepthExceeded as exc:
                        raise self._depth_error(exc.offset) from None
                    finally:
                        if collect:
                            gc.enable()
                    if self.ready:
                        yield from self.regroup.add(self.ready)
                if not started:
                    raise DumpError("the file is empty", file=self.file)
                try:
                    parser.close()
                except ijson.JSONError as exc:
                    raise self._syntax_error(exc, b"") from None
            except OSError as exc:
                raise DumpError(f"cannot read: {exc.strerror or exc}", file=self.file) from None
        self._drain(final=True)
        yield from self._finish()

    def batches_of(self, root: dict[str, Any]) -> Iterator[pa.RecordBatch]:
        """The pass over a document already parsed whole (:mod:`.json_whole`): the same
        walk over the same values as :meth:`batches`, with nothing left to feed."""
        self.root = root
        collect = gc.isenabled()
        if collect:
            gc.disable()
        try:
            self._drain(final=True)
        finally:
            if collect:
                gc.enable()
        yield from self._finish()

    def _finish(self) -> Iterator[pa.RecordBatch]:
        if not self.found:
            raise DumpError(
                "not a Telegram Desktop export: the JSON has no 'messages' and no 'chats'",
                file=self.file,
            )
        try:
            tail = self.builder.flush()
        except (pa.ArrowException, orjson.JSONEncodeError, TypeError, ValueError) as exc:
            raise self.store_error(exc, self.last_position()) from None
        if tail is not None:
            self.ready.append(tail)
        yield from self.regroup.add(self.ready)
        yield from self.regroup.rest()

    def last_position(self) -> str | None:
        chats = [self.root_chat, *(section.current for section in self.sections.values())]
        taken = [chat for chat in chats if chat is not None and chat.taken]
        return taken[-1].position(taken[-1].taken - 1) if taken else None

    def _check_start(self, chunk: bytes) -> bool:
        body = chunk.lstrip(_WHITESPACE)
        if not body:
            return False
        if body[:1] != b"{":
            raise DumpError(
                "not a Telegram Desktop export: the file does not start with a JSON object",
                file=self.file,
                position="byte 0",
            )
        return True

    def learn_metadata(self, chat: Chat) -> None:
        """Read the whole file once more for one chat's fields, written after its messages."""
        scan = JsonPass(self.path, self.options, careful=self.careful, collect_only=chat.prefix)
        try:
            for _ in scan.batches():
                pass
        except MetadataFound as found:
            chat.name, chat.type, chat.raw_id = found.chat.name, found.chat.type, found.chat.raw_id
            if chat.scheme is None:
                chat.scheme = found.chat.scheme
        chat.meta_final = True

    # -- walking the half-built tree ------------------------------------------------

    def _drain(self, *, final: bool) -> None:
        root = self.root
        if root is None:
            return
        for key in list(root):
            value = root[key]
            if key == "messages":
                if self.root_chat is None:
                    self.root_chat = Chat(self, "")
                self._drain_chat(self.root_chat, root, on_spine=not final)
            elif key in _SECTIONS and type(value) is dict:
                spine = not final and key == _last_key(root)
                self._drain_section(key, value, on_spine=spine)
            elif key not in _CHAT_KEYS:
                self.skipped = _prune(value)
                del root[key]

    def _drain_section(self, name: str, section: dict[str, Any], *, on_spine: bool) -> None:
        state = self.sections.get(name)
        if state is None:
            state = self.sections[name] = Section(name)
        spine_key = _last_key(section) if on_spine else None
        for key in list(section):
            if key != "list":
                self.skipped = _prune(section[key])
                del section[key]
                continue
            chats = section["list"]
            if type(chats) is not list:
                raise DumpError(f"{name}.list is not a list", file=self.file, position=name)
            self.found = True
            last = len(chats) - 1
            done = 0
            for offset, chat in enumerate(chats):
                index = state.offset + offset
                if type(chat) is not dict:
                    raise DumpError(
                        "chat is not a JSON object",
                        file=self.file,
                        position=f"{name}.list[{index}]",
                    )
                current = state.current
                if current is None or current.prefix != f"{name}.list[{index}].":
                    current = state.current = Chat(self, f"{name}.list[{index}].")
                on_chat_spine = spine_key == "list" and offset == last
                self._drain_chat(current, chat, on_spine=on_chat_spine)
                if not on_chat_spine:
                    done += 1
            if done:
                del chats[:done]
                state.offset += done

    def _drain_chat(self, chat: Chat, obj: dict[str, Any], *, on_spine: bool) -> None:
        messages = obj.get("messages")
        if messages is not None:
            if type(messages) is not list:
                raise DumpError(
                    "'messages' is not a list", file=self.file, position=chat.prefix + "messages"
                )
            self.found = True
            if chat.tdesktop_order is None:
                chat.note_order(obj)
            count = len(messages)
            if on_spine and _last_key(obj) == "messages":
                count -= 1
            if count > 0:
                taken = messages[:count]
                del messages[:count]
                chat.take(taken, obj)
        if obj is not self.root:
            for key in list(obj):
                if key not in _CHAT_KEYS:
                    self.skipped = _prune(obj[key])
                    del obj[key]
        if not on_spine:
            chat.finish(obj)

    def _depth(self) -> int:
        """How deep the parser is, at most; a pruned value counts as at the deepest
        place a value is pruned (a chat's key in an account export, level 5)."""
        depth = tree_depth(self.root)
        for level, container in enumerate(self.skipped, start=_SKIPPED_LEVEL):
            depth = max(depth, level - 1 + tree_depth(container))
        return depth

    # -- errors ---------------------------------------------------------------------

    def _depth_error(self, local: int) -> DumpError:
        shift = self.stream.shift if self.stream is not None else 0
        position = f"before byte {max(self.fed + local - shift, 0)}"
        with contextlib.suppress(DumpError):
            self._drain(final=False)
        where = self._where()
        if where:
            position += f" ({where})"
        return DumpError(
            f"nesting depth exceeded: the JSON nests deeper than {MAX_DEPTH} levels",
            file=self.file,
            position=position,
        )

    def _where(self) -> str | None:
        """Which message the parser was in, walking the spine of the half-built tree."""
        root = self.root
        if root is None:
            return None
        key = _last_key(root)
        if key == "messages" and self.root_chat is not None:
            messages = root.get("messages")
            if type(messages) is list:
                return self.root_chat.where(messages)
        if key in _SECTIONS and type(root[key]) is dict and key in self.sections:
            section = root[key]
            chats = section.get("list")
            state = self.sections[key]
            if _last_key(section) == "list" and type(chats) is list and chats:
                chat = chats[-1]
                current = state.current
                if type(chat) is dict and _last_key(chat) == "messages" and current is not None:
                    messages = chat["messages"]
                    if type(messages) is list:
                        return current.where(messages)
                return f"in {key}.list[{state.offset + len(chats) - 1}]"
        return f"in '{key}'" if key else None

    def _syntax_error(self, exc: Exception, chunk: bytes) -> Exception:
        detail = exc.args[0] if exc.args else ""
        raw = detail if isinstance(detail, bytes) else str(detail).encode("utf-8", "replace")
        summary = raw.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
        if "invalid character inside string" in summary and not self.careful:
            return NeedsCarefulRepair()
        stream = self.stream
        shift = stream.shift if stream is not None else 0
        if not chunk:
            offset = stream.consumed if stream is not None else self.fed
            message = "the JSON ends early: the file is truncated"
        else:
            local = _error_offset(raw, chunk)
            offset = self.fed + (local if local is not None else 0) - shift
            if "invalid bytes in UTF8" in summary:
                message = "invalid UTF-8 in a JSON string"
            elif "trailing garbage" in summary:
                message = "unexpected data after the end of the JSON document"
            else:
                message = f"invalid JSON ({summary.removeprefix('parse error: ')})"
            if local is None:
                message += " within the 256 KiB from this byte on"
        position = f"byte {max(offset, 0)}"
        where = self._where()
        if where:
            position += f" ({where})"
        return DumpError(message, file=self.file, position=position)


def _error_offset(detail: bytes, chunk: bytes) -> int | None:
    """Where in ``chunk`` yajl stopped, from the context window of its verbose message.

    yajl prints up to 30 bytes either side of the error with newlines blanked, indented so
    the error sits in column 40; the window is found again in the chunk.
    """
    lines = detail.split(b"\n")
    if len(lines) < 3:
        return None
    window = lines[1]
    plain = chunk.replace(b"\n", b" ").replace(b"\r", b" ")
    for offset in range(30):
        pad = 40 - offset
        if window[:pad].strip() == b"" and window[pad:] == plain[: offset + 30]:
            return offset
    body = window[10:]
    if window[:10].strip() or not body:
        return None
    found = plain.find(body)
    return found + 30 if found >= 0 else None
