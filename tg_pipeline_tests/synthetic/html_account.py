"""A whole-account export in HTML, laid out as tdesktop's HtmlWriter lays it out.

``export_results.html`` at the top links the sections; ``lists/chats.html`` lists every
chat (``writeDialogEnd``) with its name, message count and one word for its type; each
chat's pages sit in ``chats/chat_NN/`` (``NN`` the chat's position, zero-padded to the
width of the last one) with a header linking back to the list.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tg_pipeline_tests.synthetic.html_writer import (
    MESSAGES_PER_PAGE,
    _Context,
    _userpic,
    html_string,
    page_start,
    write_html_pages,
)
from tg_pipeline_tests.synthetic.model import COLOR_MAP, Account, Chat

ABOUT_CHATS_HTML = "This page lists all chats from this export."
ABOUT_LEFT_HTML = (
    "This page lists all supergroups and channels from this export that you have left."
)
CHAT_LIST = "lists/chats.html"

#: ``TypeString`` of ``writeDialogEnd``: the JSON type's one-word category.
LIST_TYPES = {
    "saved_messages": "private",
    "replies": "private",
    "personal_chat": "private",
    "bot_chat": "bot",
    "private_group": "group",
    "private_supergroup": "group",
    "public_supergroup": "group",
    "private_channel": "channel",
    "public_channel": "channel",
}


def chat_folder(index: int, total: int) -> str:
    """``chats/chat_NN/`` of the ``index``-th chat (from 1) of ``total``."""
    digits = len(str(total - 1)) if total > 1 else 1
    return f"chats/chat_{index:0{digits}d}/"


def _count_text(count: int) -> str:
    if count == 1:
        return "1 message"
    return f"{count} messages" if count else "No messages"


def _entry(ctx: _Context, chat: Chat, link: str, count: int) -> str:
    """``pushGenericListEntry`` of one chat."""
    if link:
        attrs = [("class", "entry block_link clearfix"), ("href", "../" + link + "#allow_back")]
        out = ctx.push("a", attrs)
    else:
        out = ctx.div("entry clearfix")
    last = chat.last_name if chat.type in ("personal_chat", "bot_chat") else ""
    color = f"userpic{COLOR_MAP[chat.id % 7] + 1}"
    out += ctx.div("pull_left userpic_wrap") + _userpic(ctx, chat.name, last, color, 48)
    out += ctx.pop() + ctx.div("body")
    out += ctx.div("pull_right info details") + LIST_TYPES.get(chat.type, "unknown") + ctx.pop()
    name = f"{chat.name} {last}" if (chat.name or last) else "Deleted Account"
    out += ctx.div("name bold") + html_string(name) + ctx.pop()
    out += ctx.div("details_entry details") + _count_text(count) + ctx.pop()
    return out + ctx.pop() + ctx.pop()


def write_account_html(
    account: Account, folder: Path, per_page: int = MESSAGES_PER_PAGE
) -> list[Path]:
    """Write the export into ``folder``; returns every chat page written, in order."""
    folder.mkdir(parents=True, exist_ok=True)
    chats = [(chat, False) for chat in account.chats] + [
        (chat, True) for chat in account.left_chats
    ]
    pages: list[Path] = []
    ctx = _Context()
    listing = page_start(ctx, "Chats", "../", "export_results.html")
    listing += ctx.div("page_body list_page")
    left_mode: bool | None = None
    for index, (chat, left) in enumerate(chats, start=1):
        relative = chat_folder(index, len(chats))
        messages = list(chat.messages)
        if messages:
            # A chat with nothing exported gets no folder, only its list entry.
            pages += write_html_pages(
                replace(chat, messages=messages),
                folder / relative,
                per_page,
                base="../../",
                back=CHAT_LIST,
            )
        if left_mode != left:
            if left_mode is not None:
                listing += ctx.pop()
            left_mode = left
            about = ABOUT_LEFT_HTML if left else ABOUT_CHATS_HTML
            listing += ctx.div("page_about details") + about + ctx.pop()
            listing += ctx.div("entry_list")
        link = relative + "messages.html" if messages else ""
        listing += _entry(ctx, chat, link, len(messages))
    listing += ctx.close_all()
    (folder / "lists").mkdir(exist_ok=True)
    (folder / CHAT_LIST).write_text(listing, encoding="utf-8", newline="\n")
    summary = _Context()
    index_page = page_start(summary, "Exported Data", "", "")
    index_page += summary.div("page_body") + summary.div("sections")
    index_page += summary.push(
        "a", [("class", "section block_link chats"), ("href", CHAT_LIST + "#allow_back")]
    )
    index_page += summary.div("counter details") + str(len(chats)) + summary.pop()
    index_page += summary.div("label bold") + "Chats" + summary.pop() + summary.pop()
    index_page += summary.close_all()
    (folder / "export_results.html").write_text(index_page, encoding="utf-8", newline="\n")
    return pages
