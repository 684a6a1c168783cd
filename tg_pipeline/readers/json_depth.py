"""A nesting limit enforced before the JSON parser builds anything.

ijson keeps a prefix string per open level, so memory grows with the square of the
nesting depth: a 200 KB file of 100,000 nested lists needs tens of GB. Telegram exports
nest about ten levels deep, so :data:`MAX_DEPTH` leaves plenty of room for unknown keys
while refusing such a file after a few kilobytes.

The depth is read from the half-built tree (the parser attaches each container to its
parent as soon as it opens), and a chunk is fed whole only when even counting every
bracket in it, strings included, cannot take the tree past the limit. Otherwise the
chunk is fed in slices, halved again while still too many, so a chunk of ordinary
messages costs a few byte counts while a deep one is stopped within the limit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: Deepest JSON nesting accepted, counting the root object as level 1.
MAX_DEPTH = 128
#: Bytes fed at a time when a whole chunk might pass the limit: ordinary messages hold a
#: few dozen brackets in this many bytes.
SLICE_BYTES = 4096


class DepthExceeded(Exception):
    """The document nests deeper than :data:`MAX_DEPTH` within ``offset`` bytes of the chunk."""

    def __init__(self, offset: int) -> None:
        super().__init__(offset)
        self.offset = offset


def tree_depth(root: Any) -> int:
    """Levels of open containers along the last-added path of a half-built tree.

    A container that has just closed but is still its parent's last item counts too; the
    figure is thus never below the parser's depth, only briefly above it.
    """
    depth = 0
    node = root
    while True:
        kind = type(node)
        if kind is dict:
            depth += 1
            node = node[next(reversed(node))] if node else None
        elif kind is list:
            depth += 1
            node = node[-1] if node else None
        else:
            return depth
        if depth > MAX_DEPTH:
            return depth


def feed_bounded(send: Callable[[bytes], Any], chunk: bytes, depth: Callable[[], int]) -> None:
    """``send(chunk)`` in pieces small enough that the tree never passes :data:`MAX_DEPTH`.

    ``depth`` reports the tree's depth after what was sent so far. Raises
    :class:`DepthExceeded` once it passes the limit.
    """
    if _fits(chunk, depth, 0):
        send(chunk)
    else:
        for start in range(0, len(chunk), SLICE_BYTES):
            _feed_halves(send, chunk[start : start + SLICE_BYTES], depth, start)
    if depth() > MAX_DEPTH:
        raise DepthExceeded(len(chunk))


def _fits(data: bytes, depth: Callable[[], int], offset: int) -> bool:
    now = depth()
    if now > MAX_DEPTH:
        raise DepthExceeded(offset)
    return len(data) <= 1 or now + data.count(b"[") + data.count(b"{") <= MAX_DEPTH


def _feed_halves(
    send: Callable[[bytes], Any], data: bytes, depth: Callable[[], int], offset: int
) -> None:
    if _fits(data, depth, offset):
        send(data)
        return
    half = len(data) // 2
    _feed_halves(send, data[:half], depth, offset)
    _feed_halves(send, data[half:], depth, offset + half)
