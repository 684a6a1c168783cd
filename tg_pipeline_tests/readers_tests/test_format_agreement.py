"""The HTML and JSON versions of each project fixture read back to the same records.

The fixtures (``tg_pipeline_tests/fixtures``) are the same chats written in both of
Telegram Desktop's formats, so wherever HTML carries a field the two readers must agree,
and both must give back what the chat was written from.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import pytest

from tg_pipeline.records import ReadOptions
from tg_pipeline.sample_export import SAMPLE_HTML, SAMPLE_JSON
from tg_pipeline_tests.fixtures.chats import FULL_ACCOUNT_JSON, Fixture, fixtures, full_account
from tg_pipeline_tests.readers_tests.format_pairs import (
    DELETED_ACCOUNT,
    chat_differences,
    entities_key,
    reactions_key,
    read_html_records,
    read_json_records,
)
from tg_pipeline_tests.synthetic import Contact, Document, Location, Message, Peer, Photo, Poll

FIXTURES = fixtures()
#: Each fixture is read once per format; the tests only look at the records.
_cache: dict[tuple[str, str], list[dict[str, Any]]] = {}


def _records(fixture: Fixture, fmt: str) -> list[dict[str, Any]]:
    key = (fixture.name, fmt)
    if key not in _cache:
        options = ReadOptions(default_zone=fixture.zone)
        if fmt == "json":
            _cache[key] = read_json_records(fixture.json_path, options)
        else:
            _cache[key] = read_html_records(fixture.html_dir, options)
    return _cache[key]


def _by_name(fixture: Fixture) -> str:
    return fixture.name


@pytest.fixture(params=FIXTURES, ids=_by_name)
def fixture(request: pytest.FixtureRequest) -> Fixture:
    return request.param


def test_html_and_json_agree_field_by_field(fixture: Fixture) -> None:
    problems = chat_differences(_records(fixture, "json"), _records(fixture, "html"))
    assert not problems, "\n".join(problems)


def _sender_name(peer: Peer | None) -> str:
    return peer.name if peer is not None and peer.name else DELETED_ACCOUNT


def _forward_name(message: Message) -> str | None:
    origin = message.forwarded_from
    if origin is None:
        return None
    return origin if isinstance(origin, str) else origin.name


def _media_type(message: Message) -> str | None:
    media = message.media
    if isinstance(media, Document):
        return media.kind
    names = {Photo: "photo", Location: "location", Contact: "contact", Poll: "poll"}
    return names.get(type(media)) if media is not None else None


def _expected_entities(message: Message) -> list[tuple[str, str, str | None]]:
    pieces = [
        {"type": part.type, "text": part.text, "href": part.additional} for part in message.parts
    ]
    return entities_key(pieces)


@pytest.mark.parametrize("fmt", ["json", "html"])
def test_read_back_is_the_chat_that_was_written(fixture: Fixture, fmt: str) -> None:
    rows = _records(fixture, fmt)
    messages = fixture.messages
    assert [r["message_id"] for r in rows] == [m.id for m in messages]
    problems: list[str] = []
    for row, message in zip(rows, messages, strict=True):
        expected: dict[str, Any] = {"kind": message.kind}
        if message.action is None or fmt == "json":
            expected["text"] = message.plain_text
            expected["entities"] = _expected_entities(message)
        if message.action is None:
            expected["sender_name"] = _sender_name(message.sender)
            in_chat = message.reply_to_peer is None
            expected["reply_to_message_id"] = message.reply_to if in_chat else None
            expected["reply_elsewhere"] = not in_chat
            expected["forwarded_from"] = _forward_name(message)
            expected["author"] = message.author or None
            expected["media_type"] = _media_type(message)
            expected["reactions"] = [
                (reaction.emoji, reaction.count) for reaction in message.reactions
            ]
        if fmt == "json" or message.action is None:
            expected["sent_at"] = message.date
        if fmt == "json" and message.action is not None:
            expected["action"] = message.action.type
        for field, want in expected.items():
            got = row.get(field)
            if field == "reply_elsewhere":
                got = "reply_to_peer_id" in row["extra"]
            elif field == "sent_at":
                got = _epoch(got)
            elif field == "entities":
                got = entities_key(got)
            elif field == "reactions":
                got = reactions_key(got)
            elif field == "sender_name" and got is None:
                got = DELETED_ACCOUNT
            if got != want:
                problems.append(f"message {message.id} {field}: want {want!r}, got {got!r}")
    assert not problems, "\n".join(problems)


def _epoch(value: str | None) -> int | None:
    return None if value is None else int(datetime.fromisoformat(value).timestamp())


def test_html_names_the_service_actions_tdesktop_writes(fixture: Fixture) -> None:
    """Every service entry in the fixtures is English prose tdesktop writes for one action."""
    rows = _records(fixture, "html")
    unclassified = [
        (row["message_id"], message.action.type, row["text"])
        for row, message in zip(rows, fixture.messages, strict=True)
        if message.action is not None and row.get("action") != message.action.type
    ]
    assert not unclassified, unclassified


def test_html_times_carry_their_source(fixture: Fixture) -> None:
    rows = _records(fixture, "html")
    sources = Counter((row["kind"], row["time_source"]) for row in rows)
    expected = "html_offset" if fixture.chat.flavor.zone_suffix else "assumed"
    assert sources[("message", expected)] == sum(1 for r in rows if r["kind"] == "message")


def test_full_account_json_reads_every_chat() -> None:
    account = full_account()
    rows = read_json_records(FULL_ACCOUNT_JSON)
    chats = account.chats + account.left_chats
    expected = [(chat.id, chat.name, message.id) for chat in chats for message in chat.messages]
    assert [(r["chat_id"], r["chat_name"], r["message_id"]) for r in rows] == expected
    assert {r["chat_type"] for r in rows} == {chat.type for chat in chats}
    texts = [r["text"] for r in rows]
    assert texts == [m.plain_text for chat in chats for m in chat.messages]


def test_bundled_sample_export_formats_agree() -> None:
    json_rows = read_json_records(SAMPLE_JSON)
    html_rows = read_html_records(SAMPLE_HTML)
    problems = chat_differences(json_rows, html_rows)
    assert not problems, "\n".join(problems)
    assert len({row["sender_id"] for row in json_rows if row["kind"] == "message"}) == 5
