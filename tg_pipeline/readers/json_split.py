"""Cutting a large single-chat ``result.json`` into pieces that parse on their own.

One core parses JSON at well under the rate a 1M-message export needs, so a large export
is read as pieces on several cores. JSON has no raw newline inside a string, and tdesktop
pretty-prints with one space per level, so a message of a single-chat export starts at a
line ``  {`` and ends at a line ``  }``: the file can be cut at ``\\n  },\\n  {\\n`` without
parsing it. Each piece, framed by the file's own head (``name``, ``type``, ``id``, up to
``"messages": [``) and the closing brackets, is a complete single-chat export.

The layout is only trusted, never assumed: a cut in the wrong place leaves some piece with
unbalanced brackets, which fails to parse, and the caller then reads the whole file the
ordinary way. Only exports whose chat fields need no message to interpret (a chat id
below the old peer encoding) are cut, so every piece resolves the chat alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import orjson

from tg_pipeline.readers.json_message import INT64_MAX, USER_SHIFT

#: The bytes that close a piece's frame: the messages list and the root object.
CLOSE = b"\n ]\n}\n"

_MESSAGES_OPEN = b'\n "messages": [\n'
_FIRST_MESSAGE = b"  {\n"
_BOUNDARY = b"\n  },\n  {\n"
_LAST = b"\n  }\n ]\n}"
_HEAD_LIMIT = 1 << 16
_SCAN = 1 << 20
#: A message key line, at the indent tdesktop gives the keys of a message.
_ID_KEY = b'\n   "id": '
_DATE_KEYS = (b'\n   "date": ', b'\n   "date_unixtime": ')


@dataclass(frozen=True, slots=True)
class Piece:
    """Bytes ``[start, end)`` of the file: whole messages, from ``  {`` to ``  }``."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Plan:
    head: bytes
    pieces: tuple[Piece, ...]


def plan_pieces(path: Path, piece_bytes: int) -> Plan | None:
    """Pieces of about ``piece_bytes`` each, or None when the file does not fit the layout.

    A piece other than the first starts at a message that has an ``id`` and a date of its
    own: the reader numbers id-less chats and dates undated entries from their neighbours,
    which only the whole file can do.
    """
    with open(path, "rb") as handle:
        head_window = handle.read(_HEAD_LIMIT)
        size = handle.seek(0, 2)
        if size < 2 * piece_bytes:
            return None
        handle.seek(max(0, size - 64))
        tail_window = handle.read()
        opened = head_window.find(_MESSAGES_OPEN)
        if not head_window.startswith(b"{") or opened < 0:
            return None
        head = head_window[: opened + len(_MESSAGES_OPEN)]
        if head_window[len(head) : len(head) + len(_FIRST_MESSAGE)] != _FIRST_MESSAGE:
            return None
        if not _plain_chat(head_window[:opened]):
            return None
        last = tail_window.rstrip(b" \t\r\n")
        if not last.endswith(_LAST):
            return None
        end = size - len(tail_window) + len(last) - len(_LAST) + len(b"\n  }")
        pieces: list[Piece] = []
        start = len(head)
        while end - start > 2 * piece_bytes:
            cut = _find_cut(handle, start + piece_bytes, end)
            if cut is None:
                break
            pieces.append(Piece(start, cut))
            start = cut + len(b",\n")
        pieces.append(Piece(start, end))
    return Plan(head, tuple(pieces))


def _plain_chat(head: bytes) -> bool:
    """The head holds only the chat fields, and its id reads the same in every scheme."""
    fields = head.rstrip(b" \t\r\n")
    if not fields.endswith(b","):
        return False
    try:
        chat = orjson.loads(fields[:-1] + b"}")
    except orjson.JSONDecodeError:
        return False
    if type(chat) is not dict or set(chat) != {"name", "type", "id"}:
        return False
    raw = chat["id"]
    return type(raw) is int and -INT64_MAX <= raw < USER_SHIFT


def _find_cut(handle: BinaryIO, target: int, end: int) -> int | None:
    """Where the first message boundary at or after ``target`` ends its message's ``  }``."""
    position = target
    while position < end:
        handle.seek(position)
        window = handle.read(_SCAN)
        at = 0
        while True:
            found = window.find(_BOUNDARY, at)
            if found < 0:
                break
            following = found + len(_BOUNDARY) - 1
            stop = window.find(b"\n  }", following)
            if stop < 0:
                break
            message = window[following:stop]
            if _ID_KEY in message and any(key in message for key in _DATE_KEYS):
                cut = position + found + len(b"\n  }")
                return cut if cut < end else None
            at = following
        if len(window) < _SCAN:
            return None
        position += len(window) - _SCAN // 2
    return None
