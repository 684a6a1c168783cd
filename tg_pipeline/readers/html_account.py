"""``lists/chats.html`` of a whole-account HTML export: each chat folder's name and type.

tdesktop lists every exported chat there (``writeDialogEnd`` in ``export_output_html.cpp``)
as an entry linking to ``chats/chat_NNN/messages.html`` with the chat's name
(``div.name``) and one word for its type (``div.info``: ``private``, ``bot``, ``group``,
``channel`` or ``unknown``). A chat with no exported messages has no link and no folder.
The pages themselves carry the name in their header but never the type.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from selectolax.lexbor import LexborHTMLParser

from tg_pipeline.readers.html_page import read_page_bytes

#: The one word tdesktop writes for a chat's type; "unknown" says nothing.
CHAT_TYPES = frozenset({"private", "bot", "group", "channel"})


@dataclass(frozen=True, slots=True)
class ListedChat:
    name: str | None
    type: str | None


def is_chat_list(path: Path) -> bool:
    return path.name.lower() == "chats.html" and path.parent.name == "lists"


def read_chat_list(path: Path) -> dict[str, ListedChat]:
    """Listed chats by the normalized path of their folder."""
    tree = LexborHTMLParser(read_page_bytes(path))
    listed: dict[str, ListedChat] = {}
    for entry in tree.css("a.entry"):
        href = (entry.attributes.get("href") or "").partition("#")[0]
        if not href or ":" in href:
            continue
        name_node = entry.css_first(".name")
        info_node = entry.css_first(".info")
        name = name_node.text(deep=True).strip() if name_node is not None else ""
        kind = info_node.text(deep=True).strip().lower() if info_node is not None else ""
        chat = ListedChat(name or None, kind if kind in CHAT_TYPES else None)
        # Links are relative to lists/ ("../chats/…"); accept one relative to the top too.
        for base in (path.parent, path.parent.parent):
            folder = os.path.normpath(base / href).rpartition(os.sep)[0]
            listed.setdefault(folder, chat)
    return listed
