"""Random chats written in both Telegram formats read back to the same records.

Hypothesis draws whole chats: texts full of markup characters, Cyrillic, emoji, tabs and
newlines, split into entity pieces of every kind; senders posting in bursts so that HTML
joins runs, also across page boundaries (pages of 3-7 messages); replies, also into earlier
pages; forwards, via-bot messages, reactions, media and service entries. Each chat is
rendered by :mod:`tg_pipeline_tests.synthetic` exactly as tdesktop writes it, read back by both
readers, and compared with the other format and with the chat itself.

Texts never start or end with whitespace: Telegram trims a message before sending it.
"""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tg_pipeline.records import ReadOptions
from tg_pipeline_tests.readers_tests.format_pairs import (
    DELETED_ACCOUNT,
    chat_differences,
    entities_key,
    read_html_records,
    read_json_records,
)
from tg_pipeline_tests.synthetic import (
    LEGACY,
    MODERN,
    V2022,
    Action,
    Chat,
    Document,
    Message,
    Part,
    Peer,
    Photo,
    Reaction,
    ent,
    plain,
    user,
    write_export,
)

_ALPHABET = st.sampled_from(
    list("abcXYZ019 <>&\"'*_`~#@$/\\=;:.,!?()[]{}")
    + list("привет Жёлтый ЩЮЯ")
    + ["😀", "👍🏽", "🇺🇦", "❤️", "\u200d", "\t", "\n", "\u00a0", "€", "中"]
)
_WORD = st.text(st.sampled_from(list("abcdefxyzABC0123456789_")), min_size=1, max_size=8)
_FREE = st.lists(_ALPHABET, min_size=1, max_size=18).map("".join)
_URL = st.builds(
    lambda host, path, query: f"https://{host}.example/{path}?q={query}&x=1",
    _WORD,
    _WORD,
    st.text(st.sampled_from(list("abc<>\"'&=")), max_size=5),
)


def _entity(kind: str, free: str, word: str, url: str) -> Part:
    """An entity piece whose text looks like what Telegram marks with that entity."""
    text = free.strip() or word
    if kind == "mention":
        return ent(kind, "@" + word)
    if kind == "hashtag":
        return ent(kind, "#" + word)
    if kind == "cashtag":
        return ent(kind, "$" + word.upper())
    if kind == "bot_command":
        return ent(kind, "/" + word)
    if kind == "link":
        return ent(kind, url)
    if kind == "email":
        return ent(kind, f"{word}@example.org")
    if kind == "phone":
        return ent(kind, "+1 555 0100")
    if kind == "text_link":
        return ent(kind, text, url)
    if kind == "mention_name":
        return ent(kind, text, "123456")
    if kind == "pre":
        return ent(kind, text, word)
    if kind == "custom_emoji":
        return ent(kind, "😀", f"stickers/{word}.webp")
    return ent(kind, text)


_ENTITY_KINDS = (
    "bold",
    "italic",
    "code",
    "pre",
    "link",
    "text_link",
    "mention",
    "mention_name",
    "hashtag",
    "cashtag",
    "bot_command",
    "email",
    "phone",
    "strikethrough",
    "underline",
    "spoiler",
    "blockquote",
    "custom_emoji",
)
_PIECE = st.one_of(
    st.builds(plain, _FREE),
    st.builds(_entity, st.sampled_from(_ENTITY_KINDS), _FREE, _WORD, _URL),
)


def _normalize(parts: list[Part]) -> tuple[Part, ...]:
    """Merge neighbouring plain pieces and trim the text as Telegram does."""
    merged: list[Part] = []
    for part in parts:
        if part.type == "plain" and merged and merged[-1].type == "plain":
            merged[-1] = plain(merged[-1].text + part.text)
        else:
            merged.append(part)
    if merged and merged[0].type == "plain":
        merged[0] = plain(merged[0].text.lstrip())
    if merged and merged[-1].type == "plain":
        merged[-1] = plain(merged[-1].text.rstrip())
    return tuple(part for part in merged if part.text)


_NAME = st.text(st.sampled_from(list("AnnaБорисZoë 😀&<'")), min_size=1, max_size=10).map(str.strip)


@st.composite
def _peers(draw: st.DrawFn) -> list[Peer]:
    count = draw(st.integers(1, 4))
    peers = []
    for index in range(count):
        first = draw(_NAME) or f"User{index}"
        last = draw(st.one_of(st.just(""), _NAME))
        peers.append(user(100_000 + index * 7_777, first, last))
    return peers


_GAPS = st.sampled_from([0, 1, 2, 30, 899, 900, 901, 3_600, 40_000, 86_400])
_EMOJI = st.sampled_from(["👍", "❤", "🔥", "😂", "🤯"])


@st.composite
def chats(draw: st.DrawFn) -> tuple[Chat, int]:
    """A random chat and the page size to write its HTML with."""
    peers = draw(_peers())
    bot = user(999_000_001, "Inline", "Bot", "inline_bot")
    offset = draw(st.sampled_from([0, 3 * 3600, -5 * 3600, 19_800]))
    date = draw(st.integers(1_600_000_000, 1_750_000_000))
    message_id = draw(st.integers(1, 10_000))
    messages: list[Message] = []
    sender = peers[0]
    for _ in range(draw(st.integers(1, 24))):
        message_id += draw(st.integers(1, 3))
        date += draw(_GAPS)
        if draw(st.integers(0, 3)) == 0:
            sender = draw(st.sampled_from(peers))
        if draw(st.integers(0, 11)) == 0:
            action = draw(
                st.sampled_from(
                    [
                        Action("invite_members", members=(draw(st.sampled_from(peers)),)),
                        Action("edit_group_title", title=draw(_FREE)),
                        Action("remove_members", members=(draw(st.sampled_from(peers)),)),
                    ]
                )
            )
            messages.append(Message(message_id, date, sender, action=action))
            continue
        parts = _normalize(draw(st.lists(_PIECE, min_size=0, max_size=5)))
        message = Message(message_id, date, sender, parts)
        if not parts or draw(st.integers(0, 7)) == 0:
            message.media = draw(
                st.sampled_from(
                    [
                        Photo(f"photos/photo_{message_id}.jpg", 800, 600, 52_000),
                        Photo(None, 1280, 720, 99_000),
                        Document("voice_message", None, 9_000, "audio/ogg", duration=7),
                        Document("file", f"files/f{message_id}.txt", 120, "text/plain", "f.txt"),
                    ]
                )
            )
        earlier = [m.id for m in messages if m.action is None]
        if earlier and draw(st.integers(0, 3)) == 0:
            message.reply_to = draw(st.sampled_from(earlier))
        roll = draw(st.integers(0, 9))
        if roll == 0:
            message.forwarded_from = draw(st.sampled_from(peers))
            message.forwarded_date = date - draw(st.integers(60, 10_000_000))
        elif roll == 1:
            message.forwarded_from = draw(_NAME) or "Hidden"
            message.forwarded_date = date - 5_000
        elif roll == 2:
            message.via_bot = bot
        if draw(st.integers(0, 5)) == 0:
            reactors = draw(st.lists(st.sampled_from(peers), max_size=3, unique=True))
            count = len(reactors) + draw(st.integers(0 if reactors else 1, 4))
            recent = tuple((peer, date + 60) for peer in reactors)
            message.reactions = (Reaction(draw(_EMOJI), count, recent),)
        messages.append(message)
    flavor = draw(st.sampled_from([MODERN, V2022, LEGACY]))
    if not flavor.zone_suffix:
        offset = 0  # no offset in the export: the readers assume UTC, the default zone
    chat = Chat(
        "Random <chat> & Co",
        "private_supergroup",
        1_234_567,
        messages,
        utc_offset=offset,
        flavor=flavor,
    )
    return chat, draw(st.integers(3, 7))


def _check_against_chat(rows: list[dict[str, Any]], chat: Chat, fmt: str) -> list[str]:
    problems = []
    for row, message in zip(rows, list(chat.messages), strict=True):
        if message.action is not None and fmt == "html":
            continue  # tdesktop's prose, compared by action in chat_differences
        if row["text"] != message.plain_text:
            problems.append(f"{fmt} {message.id} text {row['text']!r} != {message.plain_text!r}")
        pieces = [{"type": p.type, "text": p.text, "href": p.additional} for p in message.parts]
        if entities_key(row["entities"]) != entities_key(pieces):
            problems.append(f"{fmt} {message.id} entities {row['entities']!r}")
        sent_at = int(datetime.fromisoformat(row["sent_at"]).timestamp())
        if sent_at != message.date:
            problems.append(f"{fmt} {message.id} sent_at {row['sent_at']} != {message.date}")
        if message.action is None:
            want = message.sender.name if message.sender and message.sender.name else None
            if (row["sender_name"] or DELETED_ACCOUNT) != (want or DELETED_ACCOUNT):
                problems.append(f"{fmt} {message.id} sender {row['sender_name']!r} != {want!r}")
            if row["reply_to_message_id"] != message.reply_to:
                problems.append(f"{fmt} {message.id} reply {row['reply_to_message_id']}")
    return problems


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(chats())
def test_random_chats_read_back_the_same_from_both_formats(drawn: tuple[Chat, int]) -> None:
    chat, per_page = drawn
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_export(chat, folder, per_page=per_page)
        options = ReadOptions(workers=1)
        json_rows = read_json_records(folder / "json" / "result.json", options)
        html_rows = read_html_records(folder / "html", options)
    assert [r["message_id"] for r in json_rows] == [m.id for m in chat.messages]
    problems = chat_differences(json_rows, html_rows)
    problems += _check_against_chat(json_rows, chat, "json")
    problems += _check_against_chat(html_rows, chat, "html")
    assert not problems, "\n".join(problems)
