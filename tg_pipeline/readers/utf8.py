"""UTF-8 validity of byte chunks: where the first bad byte is, and where a character is cut.

Imports pyarrow only.
"""

from __future__ import annotations

import struct

import pyarrow as pa


def utf8_error(data: bytes) -> tuple[int, str] | None:
    """Index and reason of the first invalid UTF-8 byte in ``data``, or None when valid.

    Arrow's validator is far faster than Python's decoder on non-ASCII text; the decoder
    is asked only to place an error once Arrow has found one.
    """
    offsets = pa.py_buffer(struct.pack("<qq", 0, len(data)))
    array = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(data)])
    try:
        array.validate(full=True)
    except pa.ArrowInvalid:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            return exc.start, exc.reason
    return None


def incomplete_tail(data: bytes) -> int:
    """How many bytes at the end of ``data`` start a character that continues later."""
    end = len(data)
    for back in range(1, min(4, end) + 1):
        byte = data[end - back]
        if byte & 0xC0 == 0x80:
            continue
        need = 4 if byte >= 0xF0 else 3 if byte >= 0xE0 else 2 if byte >= 0xC0 else 1
        return back if back < need else 0
    return 0
