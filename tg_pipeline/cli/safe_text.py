"""Text from a dump, made safe to show on a terminal.

Chat names, senders and texts are data, never instructions: a Rich tag such as
``[/quote]`` must print as written, and an escape sequence (``\\x1b[2J`` clears the
screen, ``\\x1b]0;…\\x07`` sets the window title), NUL or a bidi override (U+202E) must not
reach the terminal raw. :func:`visible` spells such characters as ``\\x1b`` or
``\\u202e``; table cells go to Rich as :class:`rich.text.Text`, which is never parsed as
markup; and lines printed with Rich markup of their own interpolate data through
:func:`markup_safe`. Widths are display cells (a CJK character or most emoji take two),
so cells are cut where they end on screen. JSON Lines and CSV keep the exact values.
"""

from __future__ import annotations

from rich.cells import cell_len, set_cell_size
from rich.markup import escape
from rich.text import Text

from tg_pipeline.visible import visible

ELLIPSIS = "…"


def markup_safe(text: object) -> str:
    """``text`` for a Rich markup string: control characters spelled, tags escaped."""
    return escape(visible(str(text)))


def plain(text: str) -> Text:
    """A Rich cell that shows ``text`` literally: never markup, nothing executed."""
    return Text(visible(text), no_wrap=True)


def clip(text: str, cells: int) -> str:
    """``text`` cut to at most ``cells`` display cells, ending in an ellipsis if cut."""
    if cell_len(text) <= cells:
        return text
    return set_cell_size(text, max(cells - 1, 0)).rstrip(" ") + ELLIPSIS


__all__ = ["cell_len", "clip", "markup_safe", "plain", "visible"]
