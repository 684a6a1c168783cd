"""A document small enough to hold whole, parsed by orjson instead of fed through ijson.

A piece of a large export (:mod:`.json_split`) is a complete document of a few MB. orjson
builds it in one call, several times faster than the chunked ijson pipeline with its
repair stream and depth guard, and the one-pass walk (:meth:`JsonPass.batches_of`) then
makes the same rows from the same Python values. That holds only where orjson gives the
values yajl would, so :func:`parse_whole` declines (None) whatever it cannot vouch for,
and the caller reads that document the ordinary way:

- bytes the repair stream would rewrite (``\\x`` escapes, the ``send_webview_data``
  duplicate key, a BOM): orjson would read them differently or refuse them;
- integers of magnitude 2**63 and up: yajl refuses them, while orjson reads them as
  unsigned or as floats; so a float of that magnitude is declined too;
- nesting deeper than :data:`MAX_DEPTH`, which the one pass refuses;
- anything orjson refuses (syntax, invalid UTF-8, raw control characters, lone
  surrogates): the one pass then repairs it, reads it, or reports it as it always did.

Values orjson and yajl both accept come out equal: same strings, same ints, correctly
rounded doubles, last of duplicate keys at the first one's place.

Imports only the JSON reader's own modules.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterable
from typing import Any

import orjson

from tg_pipeline.readers.json_depth import MAX_DEPTH

#: What :class:`RepairingStream` rewrites in its default mode; a document holding any of
#: them goes the repairing way. ``\x`` is looked for only where a backslash is (one byte,
#: found by memchr), and then by ``re``, which finds a two-byte literal several times
#: faster than ``bytes.__contains__``.
_ESCAPE_X = re.compile(rb"\\x")
_WEBVIEW_DATA = b"send_webview_data"
_INT64_MAX = (1 << 63) - 1
#: yajl reads the magnitude first, so -2**63 overflows it too.
_INT64_MIN = -_INT64_MAX
_FLOAT_LIMIT = float(1 << 63)


class _Unlike(Exception):
    """A value yajl would not give as orjson did."""


def parse_whole(document: bytes) -> dict[str, Any] | None:
    """The document's root object as the one pass would build it, or None (see above)."""
    if not document.startswith(b"{"):
        return None
    if b"\\" in document and _ESCAPE_X.search(document) is not None:
        return None
    if _WEBVIEW_DATA in document:
        return None
    collect = gc.isenabled()
    # The cyclic collector would walk the many fresh, acyclic containers over and over.
    if collect:
        gc.disable()
    try:
        root = orjson.loads(document)
        if type(root) is not dict or _depth(root) > MAX_DEPTH:
            return None
    except (orjson.JSONDecodeError, RecursionError, _Unlike):
        return None
    finally:
        if collect:
            gc.enable()
    return root


def _depth(value: dict[str, Any] | list[Any]) -> int:
    """Levels of nesting under and including ``value``; raises :class:`_Unlike` for a
    number yajl would not give alike. Deeper than the interpreter's recursion limit
    raises RecursionError, far past :data:`MAX_DEPTH`."""
    deepest = 0
    children: Iterable[Any] = value.values() if type(value) is dict else value
    for child in children:
        kind = type(child)
        # Most values are strings: they are passed over with one comparison.
        if kind is str:
            continue
        if kind is dict or kind is list:
            depth = _depth(child)
            if depth > deepest:
                deepest = depth
        elif kind is int:
            if not _INT64_MIN <= child <= _INT64_MAX:
                raise _Unlike
        elif kind is float and not -_FLOAT_LIMIT < child < _FLOAT_LIMIT:
            raise _Unlike
    return deepest + 1
