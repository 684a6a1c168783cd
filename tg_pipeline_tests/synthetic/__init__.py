"""Telegram Desktop exports written byte for byte the way tdesktop writes them: tooling for
tests, the sample and the benchmark, not shipped; imports only the standard library.

Tests, the bundled sample and the benchmark need exports whose every detail is known, in
both formats of the same chat. Hand-made exports drift from real output (see the samples in
``../shared/fixtures``), so this module follows tdesktop's own writers
(``export_output_json.cpp`` and ``export_output_html.cpp``) rule by rule:

- JSON: one space of indentation per nesting level as tdesktop's ``JsonContext`` counts it
  (which is why ``reactions`` items sit one level deeper than their key), keys left out when
  empty, ``date`` as local wall time and ``date_unixtime`` as a string, ``text`` as a string
  when it is one plain piece and a list otherwise, and the trailing empty piece that a
  non-ASCII text ending in an entity gets from tdesktop's UTF-8/UTF-16 length mix-up.
- HTML: ``HtmlContext`` block tags (a newline and the nesting depth in spaces before and
  after each tag, so siblings are separated by a blank line), attributes in byte order, text
  on its own line inside ``div.text``, ``from_name`` as first name + space + last name (so a
  single name keeps a trailing space), a date separator with a negative id at the top of
  every page and on every day change, ``joined`` only for the same sender, bot, day and
  forward state within 900 s (1 s for forwards) and never for the first message of a page,
  and replies into an earlier page linked as ``messagesN.html#go_to_messageID`` without
  ``onclick``.

Times are rendered for an exporter in a fixed UTC offset, as tdesktop renders them for the
machine's zone. The HTML title suffix is that zone's standard offset; with a fixed offset
it is also the offset in force, so both formats name the same instant.

The package: :mod:`.model` (the chat), :mod:`.json_writer` and :mod:`.html_writer` (the two
formats), :mod:`.formats` (dates and sizes), :mod:`.big` (large exports for benchmarks),
:mod:`.sample` (the bundled sample chat). ``python -m tg_pipeline_tests.synthetic sample
tg_pipeline/sample_export`` rewrites the bundled sample export.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tg_pipeline_tests.synthetic.big import BIG_EXPORT_VERSION, BigChat, generate_big_export
from tg_pipeline_tests.synthetic.formats import Clock, file_stamp, thumb_path
from tg_pipeline_tests.synthetic.html_account import write_account_html
from tg_pipeline_tests.synthetic.html_writer import (
    MESSAGES_PER_PAGE,
    HtmlChatWriter,
    format_text,
    html_string,
    write_html_pages,
)
from tg_pipeline_tests.synthetic.json_writer import (
    json_message,
    json_string,
    render_account_json,
    render_json,
    write_json,
)
from tg_pipeline_tests.synthetic.model import (
    ENTITY_TYPES,
    LEGACY,
    LEGACY_NUMERIC,
    MEDIA_KINDS,
    MODERN,
    SERVICE_ACTIONS,
    V2022,
    Account,
    Action,
    Chat,
    Contact,
    Document,
    Flavor,
    Location,
    Media,
    Message,
    Part,
    Peer,
    Photo,
    Poll,
    PollAnswer,
    Reaction,
    channel,
    ent,
    plain,
    text_parts,
    user,
)

__all__ = [
    "BIG_EXPORT_VERSION",
    "ENTITY_TYPES",
    "LEGACY",
    "LEGACY_NUMERIC",
    "MEDIA_KINDS",
    "MESSAGES_PER_PAGE",
    "MODERN",
    "SERVICE_ACTIONS",
    "V2022",
    "Account",
    "Action",
    "BigChat",
    "Chat",
    "Clock",
    "Contact",
    "Document",
    "Flavor",
    "HtmlChatWriter",
    "Location",
    "Media",
    "Message",
    "Part",
    "Peer",
    "Photo",
    "Poll",
    "PollAnswer",
    "Reaction",
    "channel",
    "ent",
    "file_stamp",
    "format_text",
    "generate_big_export",
    "html_string",
    "json_message",
    "json_string",
    "plain",
    "render_account_json",
    "render_json",
    "text_parts",
    "thumb_path",
    "user",
    "write_account_html",
    "write_export",
    "write_html_pages",
    "write_json",
]


def write_export(chat: Chat, folder: Path, per_page: int = MESSAGES_PER_PAGE) -> None:
    """Both formats of one chat: ``folder/json/result.json`` and ``folder/html/*.html``."""
    messages = list(chat.messages)
    chat = replace(chat, messages=messages)
    (folder / "json").mkdir(parents=True, exist_ok=True)
    with (folder / "json" / "result.json").open("w", encoding="utf-8", newline="\n") as out:
        write_json(chat, out)
    write_html_pages(chat, folder / "html", per_page)
