"""Message text of a Telegram Desktop HTML page as plain text plus Telegram's entity pieces.

tdesktop writes each text part of a message as one inline element (``FormatText`` in
``export_output_html.cpp``): ``<strong>`` for bold, ``<a onclick="return ShowHashtag(…)">``
for a hashtag, ``<span class="spoiler hidden">`` for a spoiler, and so on. Reading the
elements back gives the same ``{"type", "text"}`` pieces that the JSON export lists in
``text_entities``, so both formats meet in one record.

Real exports never nest these elements, because Telegram flattens overlapping entities
before it writes them. Hand-made pages do nest them; then the innermost recognised element
decides the piece's type, the same rule Telegram applies when it flattens (the most
specific entity wins), and text between nested elements starts a new piece of the outer
type. Unknown elements are transparent: their text belongs to the surrounding piece.
"""

from __future__ import annotations

from typing import Any

from selectolax.lexbor import LexborNode

#: tdesktop puts the text on its own, indented lines; this is what it adds around it.
EDGE_WHITESPACE = " \t\n\r\f"

_TAG_TYPES: dict[str | None, str] = {
    "strong": "bold",
    "b": "bold",
    "em": "italic",
    "i": "italic",
    "code": "code",
    "pre": "pre",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "blockquote": "blockquote",
}

_ONCLICK_TYPES = (
    ("ShowHashtag", "hashtag"),
    ("ShowCashtag", "cashtag"),
    ("ShowBotCommand", "bot_command"),
    ("SendCommand", "bot_command"),
    ("ShowMentionName", "mention_name"),
    ("ShowNotLoadedEmoji", "custom_emoji"),
    ("ShowNotAvailableEmoji", "custom_emoji"),
)

_BARE_PREFIX_TYPES = {"#": "hashtag", "$": "cashtag", "/": "bot_command", "@": "mention"}


class _Piece:
    """The entity an element starts; element identity keeps sibling elements apart."""

    __slots__ = ("attrs", "type")

    def __init__(self, type_: str, attrs: dict[str, Any] | None = None) -> None:
        self.type = type_
        self.attrs = attrs


def _link_piece(node: LexborNode) -> _Piece:
    attrs = node.attributes
    onclick = attrs.get("onclick") or ""
    href = (attrs.get("href") or "").strip()
    if onclick:
        for marker, kind in _ONCLICK_TYPES:
            if marker in onclick:
                return _Piece(kind)
    text = node.text(deep=True)
    if href.startswith("mailto:"):
        return _Piece("email")
    if href.startswith("tel:"):
        return _Piece("phone")
    if href and text == href:
        return _Piece("link")
    if not href:
        return _Piece(_BARE_PREFIX_TYPES.get(text[:1], "unknown"))
    if text.startswith("@") and (href.startswith(("https://t.me", "http://t.me", "tg:"))):
        return _Piece("mention")
    if ":" not in href and not href.startswith("#"):
        # A relative file link around an emoji is how tdesktop writes a custom emoji.
        return _Piece("custom_emoji", {"document_id": href})
    return _Piece("text_link", {"href": href})


def _piece_for(node: LexborNode, tag: str | None) -> _Piece | None:
    """The piece an element starts, or None when the element is transparent."""
    kind = _TAG_TYPES.get(tag)
    if kind is not None:
        return _Piece(kind)
    if tag == "a":
        return _link_piece(node)
    if tag == "span":
        classes = (node.attributes.get("class") or "").split()
        if "spoiler" in classes:
            return _Piece("spoiler")
        if "emoji" in classes:
            return _Piece("custom_emoji")
    return None


def _walk(node: LexborNode, piece: _Piece, out: list[tuple[_Piece, list[str]]]) -> None:
    for child in node.iter(include_text=True):
        tag = child.tag
        if tag == "-text":
            text = child.text_content
            if not text:
                continue
        elif tag == "br":
            text = "\n"
        elif tag == "-comment":
            continue
        else:
            inner = _piece_for(child, tag or "")
            _walk(child, piece if inner is None else inner, out)
            continue
        if out and out[-1][0] is piece:
            out[-1][1].append(text)
        else:
            out.append((piece, [text]))


def read_text(node: LexborNode | None) -> tuple[str, list[dict[str, Any]]]:
    """Plain text and entity pieces of a ``div.text`` (or any inline container).

    The pieces' texts concatenate exactly to the returned text. Only the markup around the
    text is removed (see :func:`_edges`): whitespace that belongs to the message, such as a
    leading line break, stays, so the text equals the JSON export's.
    """
    if node is None:
        return "", []
    collected: list[tuple[_Piece, list[str]]] = []
    _walk(node, _Piece("plain"), collected)
    if not collected:
        return "", []
    pieces = [piece for piece, _ in collected]
    texts = ["".join(parts) for _, parts in collected]
    last = len(texts) - 1
    lead, trail = _edges(texts[0], texts[last])
    if last == 0:
        texts[0] = texts[0][lead : max(lead, len(texts[0]) - trail)]
    else:
        texts[0] = texts[0][lead:]
        texts[last] = texts[last][: len(texts[last]) - trail]
    entities: list[dict[str, Any]] = []
    for piece, text in zip(pieces, texts, strict=True):
        if not text:
            continue
        entity: dict[str, Any] = {"type": piece.type, "text": text}
        if piece.attrs:
            entity.update(piece.attrs)
        entities.append(entity)
    return "".join(texts), entities


def _edges(first: str, last: str) -> tuple[int, int]:
    """How many characters of markup open ``first`` and close ``last``.

    tdesktop writes ``<div class="text">``, a newline, the text with every line break as
    ``<br>`` (``SerializeString``), then a newline and the closing tag's indentation. Only
    those two pieces of whitespace are markup. A page re-indented by another tool puts
    deeper indentation after the opening newline, or the text on the tag's own line; then
    all whitespace at the edges is markup, as it is in such pages.
    """
    opened = 2 if first[:2] == "\r\n" else 1 if first[:1] == "\n" else 0
    newline = last.rfind("\n")
    indent = last[newline + 1 :] if newline >= 0 else None
    if not opened or indent is None or indent.strip(" \t"):
        return (
            len(first) - len(first.lstrip(EDGE_WHITESPACE)),
            len(last) - len(last.rstrip(EDGE_WHITESPACE)),
        )
    closing = len(indent) + 1 + (newline > 0 and last[newline - 1] == "\r")
    after = first[opened:]
    deeper = len(after) - len(after.lstrip(" \t"))
    return (opened + deeper if deeper > len(indent) else opened), closing


def plain_text(node: LexborNode | None) -> str:
    """Text of an element with ``<br>`` as newlines and the edges stripped."""
    if node is None:
        return ""
    parts: list[str] = []
    _collect_plain(node, parts)
    return "".join(parts).strip(EDGE_WHITESPACE)


def _collect_plain(node: LexborNode, parts: list[str]) -> None:
    for child in node.iter(include_text=True):
        tag = child.tag
        if tag == "-text":
            parts.append(child.text_content or "")
        elif tag == "br":
            parts.append("\n")
        elif tag != "-comment":
            _collect_plain(child, parts)
