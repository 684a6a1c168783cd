"""Byte-level repair of the invalid JSON that real Telegram exports contain.

tdesktop's string serializer writes a control character inside a string as ``\\xHH``,
which is no JSON escape, and hand-edited exports can hold raw control characters. yajl
rejects both, yet the rest of such a dump is fine, so the reader feeds the file through
:class:`RepairingStream` and reports how many characters it repaired instead of
rejecting the dump.

Two modes, because the repairs differ in cost:

- ``fast`` (the default) rewrites ``\\xHH`` after an odd run of backslashes, which real
  exports contain. It needs no idea of where strings are, so a clean chunk costs one
  substring scan.
- ``careful`` tracks strings byte by byte and also escapes raw control characters inside
  them. It is several times slower and only hand-edited files need it, so the reader
  switches to it only when yajl reports a raw control character inside a string.

Both also rename the second ``text`` key that tdesktop writes for a ``send_webview_data``
action: JSON objects keep the last of two equal keys, which would lose the button text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO

CHUNK_SIZE = 256 * 1024
#: Bytes held back at a chunk's end so that no repair pattern is ever cut in two.
_TAIL = 256
_BOM = b"\xef\xbb\xbf"
_BACKSLASH = 0x5C

#: ``\xHH`` whose backslash is not itself escaped (odd run of backslashes).
_X_ESCAPE = re.compile(rb"(?<!\\)((?:\\\\)*)\\x([0-9A-Fa-f]{2})")
_WEBVIEW_NEEDLE = b"send_webview_data"
_WEBVIEW_TEXT = re.compile(rb'("action"\s*:\s*"send_webview_data"\s*,\s*)"text"(?=\s*:)')
_WEBVIEW_KEY = rb'\1"action_text"'
#: What the careful mode stops at inside a string.
_STRING_SPECIAL = re.compile(rb'["\\\x00-\x1f]')
_HEX = frozenset(b"0123456789abcdefABCDEF")


class RepairingStream:
    """Chunks of a JSON file, repaired, to feed a push parser.

    ``repaired`` counts the characters rewritten so far. ``consumed`` is how many source
    bytes the chunks handed out so far cover, and ``shift`` how many bytes the repairs
    added to them, so a parser offset maps back to roughly the source offset.
    """

    def __init__(
        self, raw: BinaryIO, *, careful: bool = False, chunk_size: int = CHUNK_SIZE
    ) -> None:
        self._raw = raw
        self._careful = careful
        self._chunk_size = chunk_size
        self._in_string = False
        self.repaired = 0
        self.consumed = 0
        self.shift = 0

    def chunks(self) -> Iterator[bytes]:
        carry = b""
        start = True
        while True:
            data = self._raw.read(self._chunk_size)
            eof = not data
            buf = carry + data if carry else data
            if start and (len(buf) >= len(_BOM) or eof):
                start = False
                if buf.startswith(_BOM):
                    buf = buf[len(_BOM) :]
                    self.consumed += len(_BOM)
                    self.shift -= len(_BOM)
            if eof:
                cut = len(buf)
            else:
                cut = self._safe_cut(buf, len(buf) - _TAIL)
                if cut <= 0:
                    carry = buf
                    continue
            out, carry = buf[:cut], buf[cut:]
            self.consumed += len(out)
            fixed = self._repair_careful(out) if self._careful else self._repair_fast(out)
            self.shift += len(fixed) - len(out)
            if fixed:
                yield fixed
            if eof:
                return

    @staticmethod
    def _safe_cut(buf: bytes, cut: int) -> int:
        """A cut at or before ``cut`` that splits no escape, backslash run or webview key."""
        near = buf.find(_WEBVIEW_NEEDLE, max(0, cut - 128), cut + 128)
        if near >= 0:
            action = buf.rfind(b'"action"', 0, near)
            cut = min(cut, action if action >= 0 else near)
        # Not inside ``\\xHH``, and after an even part of a backslash run, so that the
        # run's parity (which decides what it escapes) survives the cut. Each step is
        # constant or linear in the chunk: a text of escaped quotes or backslashes never
        # leaves the whole rest of the file to one chunk.
        while cut > 0:
            if buf[cut - 2 : cut] == b"\\x":
                cut -= 2
            elif buf[cut - 3 : cut - 1] == b"\\x":
                cut -= 3
            else:
                return cut - (cut - len(buf[:cut].rstrip(b"\\"))) % 2
        return cut

    def _repair_fast(self, out: bytes) -> bytes:
        if b"\\x" in out:
            out, count = _X_ESCAPE.subn(rb"\1\\u00\2", out)
            self.repaired += count
        if _WEBVIEW_NEEDLE in out:
            out = _WEBVIEW_TEXT.sub(_WEBVIEW_KEY, out)
        return out

    def _repair_careful(self, out: bytes) -> bytes:
        if _WEBVIEW_NEEDLE in out:
            out = _WEBVIEW_TEXT.sub(_WEBVIEW_KEY, out)
        parts: list[bytes] = []
        pos = 0
        end = len(out)
        in_string = self._in_string
        while pos < end:
            if not in_string:
                quote = out.find(b'"', pos)
                if quote < 0:
                    parts.append(out[pos:])
                    break
                parts.append(out[pos : quote + 1])
                pos = quote + 1
                in_string = True
                continue
            match = _STRING_SPECIAL.search(out, pos)
            if match is None:
                parts.append(out[pos:])
                break
            at = match.start()
            parts.append(out[pos:at])
            byte = out[at]
            if byte == 0x22:  # closing quote
                parts.append(b'"')
                in_string = False
                pos = at + 1
            elif byte == _BACKSLASH:
                escaped = out[at + 1 : at + 2]
                if escaped == b"x" and at + 3 < end and out[at + 2] in _HEX and out[at + 3] in _HEX:
                    parts.append(b"\\u00" + out[at + 2 : at + 4])
                    self.repaired += 1
                    pos = at + 4
                else:
                    parts.append(out[at : at + 2])
                    pos = at + 2
            else:
                parts.append(b"\\u%04x" % byte)
                self.repaired += 1
                pos = at + 1
        self._in_string = in_string
        return b"".join(parts)
