"""The ijson pipeline that builds a whole JSON document in C, one chunk at a time.

Imports ijson only.
"""

from __future__ import annotations

import builtins
import types
from collections.abc import Callable
from typing import Any

import ijson

try:
    from ijson.backends import _yajl2
except ImportError:  # an ijson built without its C extension
    _yajl2 = None

#: The parser's object factory: called for every JSON object it creates.
MapType = Callable[[], dict[str, Any]]
#: Builds a pipeline that appends each finished document to the sink; feed it with ``send``.
ChainBuilder = Callable[["Sink", MapType], Any]


class Sink(list[Any]):
    """Receives the finished root; the C pipeline appends to a list without a Python call."""

    send = list.append


def public_chain(sink: Sink, map_type: MapType) -> Any:
    """The same pipeline through ijson's public API: its stages call each other through
    bound ``send`` methods, which bypasses the C fast path and halves the throughput."""
    try:
        backend = ijson.get_backend("yajl2_c")
    except ImportError:
        backend = ijson
    return backend.items_coro(sink, "", map_type=map_type, use_float=True)


def _c_chain(sink: Sink, map_type: MapType) -> Any:
    """The C stages wired to each other directly; works only as rebound by
    :func:`_c_builder`."""
    items = _yajl2.items_basecoro(sink, "", map_type)
    parse = _yajl2.parse_basecoro(items)
    return _yajl2.basic_parse_basecoro(parse, use_float=True)


def _c_builder() -> ChainBuilder | None:
    """:func:`_c_chain` with globals that claim ``ijson.backends`` as their package, or None
    when that does not give a working pipeline.

    The C stage types find their module state with a relative import from the calling
    frame's package, so they must be constructed by code whose globals name
    ``ijson.backends``. Rebinding this module's function to such globals does that without
    executing code from a string. A probe document checks the result.
    """
    if _yajl2 is None:
        return None
    namespace: dict[str, Any] = {
        "__name__": "ijson.backends._tg_pipeline_chain",
        "__package__": "ijson.backends",
        "__builtins__": builtins,
        "_yajl2": _yajl2,
    }
    build = types.FunctionType(_c_chain.__code__, namespace, _c_chain.__name__)
    try:
        sink = Sink()
        probe = build(sink, dict)
        probe.send(b'{"a": [1, {"b": 2.5}]}')
        probe.close()
    except Exception:
        return None
    if sink != [{"a": [1, {"b": 2.5}]}]:
        return None
    return build


#: The pipeline the JSON reader builds: C to C where ijson allows it.
build_chain: ChainBuilder = _c_builder() or public_chain
