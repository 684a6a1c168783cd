"""Control and bidi characters from a dump, spelled out wherever data is shown to people.

A terminal runs an escape sequence (``\\x1b[2J`` clears the screen), NUL and bell reach it
raw, and a bidi override (U+202E) reorders what follows on screen and in a browser
("txt.exe" shows as "exe.txt"). Shown values therefore spell such characters as ``\\x1b``
or ``\\u202e``; exports (JSON Lines, CSV, backups) keep them exact.
"""

from __future__ import annotations

#: Bidirectional controls: marks, embeddings, overrides and isolates.
_BIDI = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_CONTROLS = (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029)


def _spelled(code: int) -> str:
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_VISIBLE = str.maketrans({code: _spelled(code) for code in (*_CONTROLS, *_BIDI)})


def visible(text: str) -> str:
    """``text`` with control and bidi characters spelled out (ESC as ``\\x1b``)."""
    return text.translate(_VISIBLE)
