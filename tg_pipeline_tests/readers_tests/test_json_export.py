"""The streaming ``result.json`` reader on real exports and on hand-written edge cases."""

from __future__ import annotations

import gc
import json
import logging
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tg_pipeline.errors import DumpError
from tg_pipeline.readers import json_pass
from tg_pipeline.readers.json_export import read_json_export
from tg_pipeline.readers.json_repair import RepairingStream
from tg_pipeline.records import MESSAGE_SCHEMA, ReadOptions, batch_to_dicts

#: Every sample export and how many records it holds.
SAMPLE_COUNTS = {
    "Loganavter_Tkonverter__examples_result.json": 87,
    "Loganavter_Tkonverter__examples_result_group.json": 45,
    "innerdvations_telegram-chat-parser__private_channel.json": 7,
    "innerdvations_telegram-chat-parser__public_supergroup.json": 4,
    "innerdvations_telegram-chat-parser__saved.json": 21,
    "joweich_chat-miner__test_batch_export.full_account.json": 2,
    "joweich_chat-miner__test_single_export.json": 2,
    "mlomb_chat-analytics__DM_2A_7M.json": 8,
    "mlomb_chat-analytics__MultiChat_2C_6M.full_account.json": 6,
    "vorot93_telegram-export-sqlite__json_export_result.json": 4,
    "vorot93_telegram-export-sqlite__voice_export_result.json": 1,
}


def rows_of(path: Path, **options: Any) -> list[dict[str, Any]]:
    batches = list(read_json_export(path, ReadOptions(**options)))
    for batch in batches:
        assert batch.schema.equals(MESSAGE_SCHEMA)
    return [row for batch in batches for row in batch_to_dicts(batch)]


def by_id(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {row["message_id"]: row for row in rows}


def write_json(tmp_path: Path, document: Any, name: str = "result.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def write_bytes(tmp_path: Path, data: bytes, name: str = "result.json") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def message(message_id: int, text: Any = "hi", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": message_id,
        "type": "message",
        "date": "2023-05-01T12:00:00",
        "date_unixtime": str(1682942400 + message_id),
        "from": "Anna",
        "from_id": "user42",
        "text": text,
    }
    base.update(fields)
    return base


def chat(*messages: dict[str, Any], chat_id: int = 777) -> dict[str, Any]:
    return {"name": "Test chat", "type": "private_group", "id": chat_id, "messages": list(messages)}


def instant(text: str) -> str:
    return datetime.fromisoformat(text).astimezone(UTC).isoformat()


# -- real exports ---------------------------------------------------------------------------


def test_seed_export(seed_dir: Path) -> None:
    path = seed_dir / "result.json"
    rows = rows_of(path)
    assert [row["message_id"] for row in rows] == list(range(182649, 182661))
    assert {row["chat_id"] for row in rows} == {1124496986}
    assert {row["chat_name"] for row in rows} == {"chat name"}
    assert {row["chat_type"] for row in rows} == {"private_supergroup"}
    assert [row["message_id"] for row in rows if row["kind"] == "service"] == [182649, 182650]
    messages = by_id(rows)
    assert messages[182649]["action"] == "invite_members"
    assert messages[182649]["actor"] == "user"
    assert messages[182649]["extra"]["actor_id"] == "user301222647"
    assert messages[182649]["extra"]["members"] == ["user"]
    assert messages[182654]["reply_to_message_id"] == 182652
    assert messages[182658]["reply_to_message_id"] == 182649
    assert [row["message_id"] for row in rows if row["reply_to_message_id"]] == [182654, 182658]
    assert messages[182651]["sent_at"] == "2022-08-31T09:01:45+00:00"
    assert messages[182651]["time_source"] == "unixtime"
    assert messages[182651]["sender_id"] == "user496709216"
    assert messages[182651]["sender_name"] == "user1"
    edited = messages[182656]
    assert edited["edited_at"] == "2022-08-31T09:38:02+00:00"
    assert [row["message_id"] for row in rows if row["edited_at"]] == [182656]
    assert edited["reactions"][0]["emoji"] == "👍"
    assert edited["reactions"][0]["recent"][0]["from_id"] == "user289217002"
    assert [row["message_id"] for row in rows if row["reactions"]] == [182656]
    assert edited["media_type"] == "photo"
    assert edited["media_path"] is None
    assert edited["extra"]["media_note"].startswith("(File not included.")
    assert edited["extra"]["width"] == 208
    assert edited["extra"]["edited"] == "2022-08-31T12:38:02"
    mention = messages[182659]
    assert mention["text"] == "username4 message9"
    assert mention["entities"] == [
        {"type": "mention", "text": "username4"},
        {"type": "plain", "text": " message9"},
    ]
    assert messages[182660]["source_position"] == "messages[11]"
    assert {row["source_file"] for row in rows} == {str(path)}


def test_every_sample_reads(samples_dir: Path) -> None:
    files = sorted((samples_dir / "json").glob("*.json"))
    assert {path.name for path in files} == set(SAMPLE_COUNTS)
    for path in files:
        rows = rows_of(path)
        assert len(rows) == SAMPLE_COUNTS[path.name], path.name
        for row in rows:
            assert "".join(piece["text"] for piece in row["entities"]) == row["text"]
            assert row["kind"] in ("message", "service")
            assert row["sent_at"] is not None


def test_full_account_gives_every_chat(samples_dir: Path) -> None:
    rows = rows_of(samples_dir / "json" / "mlomb_chat-analytics__MultiChat_2C_6M.full_account.json")
    chats = [(row["chat_id"], row["chat_name"], row["chat_type"]) for row in rows]
    assert (
        chats
        == [(700000001, "Chat One", "personal_chat")] * 2
        + [(700000002, "Chat Two", "private_group")] * 4
    )
    assert [row["message_id"] for row in rows] == [1001, 1002, 2001, 2002, 2003, 2004]
    assert rows[2]["source_position"] == "chats.list[1].messages[0]"
    assert rows[4]["kind"] == "service"
    assert rows[4]["action"] == "phone_call"
    assert rows[4]["extra"]["duration_seconds"] == 120


def test_numeric_ids_of_2020_are_normalised(samples_dir: Path) -> None:
    saved = rows_of(samples_dir / "json" / "innerdvations_telegram-chat-parser__saved.json")
    # 9999999999 = 2**33 + 1410065407: the chat/channel encoding of v1.4.8-v2.6.
    assert {row["chat_id"] for row in saved} == {1410065407}
    assert {row["chat_type"] for row in saved} == {"saved_messages"}
    assert {row["chat_name"] for row in saved} == {None}
    messages = by_id(saved)
    assert messages[173429]["sender_id"] == "channel1410065407"
    assert messages[5]["sender_id"] == "channel1447061072"
    assert messages[4]["extra"]["actor_id"] == 10036995664
    assert messages[207958]["media_type"] == "animation"
    assert messages[207958]["media_path"] == "video_files/video_1@21-09-2020_01-02-38.mp4"
    assert messages[207958]["extra"]["thumbnail"].endswith("_thumb.jpg")
    assert messages[217584]["media_type"] == "voice_message"
    assert messages[176390]["forwarded_from"] == "Other Person"
    assert messages[176390]["extra"]["saved_from"] == "Other Person"
    assert messages[226106]["via_bot"] == "@gif"
    assert messages[5]["media_type"] == "poll"
    assert messages[5]["extra"]["poll"]["total_voters"] == 1
    assert all(row["time_source"] == "assumed" for row in saved)
    formatted = messages[173430]
    assert formatted["text"].startswith("bold italic strikethrough")
    assert {"type": "text_link", "text": "http://google.com", "href": "http://google.com/"} in (
        formatted["entities"]
    )
    # The list ends in an empty plain piece; it is dropped, the text is unchanged.
    assert messages[225569]["entities"][-1] == {
        "type": "link",
        "text": "https://t.me/addstickers/cat_farsi",
    }
    channel = rows_of(
        samples_dir / "json" / "innerdvations_telegram-chat-parser__private_channel.json"
    )
    assert {row["chat_id"] for row in channel} == {1447061072}


def test_migrated_group_messages_keep_their_ids(samples_dir: Path) -> None:
    rows = rows_of(
        samples_dir / "json" / "innerdvations_telegram-chat-parser__public_supergroup.json"
    )
    assert [row["message_id"] for row in rows] == [-999678450, -999678449, -999675685, 1]
    assert rows[0]["extra"]["migrated_group_message_id"] == 321550
    assert "migrated_group_message_id" not in rows[3]["extra"]
    assert rows[1]["sender_id"] == "channel1410065407"


def test_old_export_reads_in_the_configured_zone(samples_dir: Path) -> None:
    path = samples_dir / "json" / "innerdvations_telegram-chat-parser__saved.json"
    utc = by_id(rows_of(path))
    moscow = by_id(rows_of(path, default_zone="Europe/Moscow"))
    berlin = by_id(rows_of(path, default_zone="Europe/Berlin"))
    # "2020-08-01T22:01:49" as written by an exporter in each zone.
    assert utc[173429]["sent_at"] == "2020-08-01T22:01:49+00:00"
    assert moscow[173429]["sent_at"] == "2020-08-01T19:01:49+00:00"
    assert berlin[173429]["sent_at"] == "2020-08-01T20:01:49+00:00"
    # Winter time in Berlin is UTC+1.
    assert berlin[318170]["sent_at"] == "2021-03-12T14:38:26+00:00"
    assert berlin[318170]["time_source"] == "assumed"


def test_synthetic_sample_keeps_every_field(samples_dir: Path) -> None:
    rows = by_id(rows_of(samples_dir / "json" / "Loganavter_Tkonverter__examples_result.json"))
    assert rows[10]["media_type"] == "contact"
    assert rows[10]["media_path"] == "vcards/bob.vcf"
    assert rows[10]["extra"]["contact_information"]["first_name"] == "Bob"
    assert rows[87]["extra"] == {"type": "unsupported"}
    assert rows[87]["time_source"] == "inferred"
    assert rows[87]["sent_at"] == rows[86]["sent_at"]
    group = by_id(
        rows_of(samples_dir / "json" / "Loganavter_Tkonverter__examples_result_group.json")
    )
    # text_entities disagrees with text in this hand-made file: text wins, both are kept.
    assert group[7]["text"] == "Welcome everyone!"
    assert group[7]["extra"]["text_entities"] == []
    assert group[15]["action"] == "todo_append_tasks"
    assert group[15]["extra"]["items"][0]["text"] == "Task 4"


# -- structure ------------------------------------------------------------------------------


def test_account_export_with_left_chats_and_sections(tmp_path: Path) -> None:
    document = {
        "about": "Here is the data you requested.",
        "personal_information": {"user_id": 42, "first_name": "Anna"},
        "contacts": {"about": "contacts", "list": [{"first_name": "B", "user_id": 7}] * 50},
        "frequent_contacts": {"about": "top", "list": [{"id": 1, "rating": 0.5}]},
        "chats": {"about": "chats", "list": [chat(message(1), message(2)), chat(message(1))]},
        "left_chats": {"about": "left", "list": [chat(message(9), chat_id=1300000000)]},
        "other_data": {"about": "other", "changes_log": [{"x": [1, 2, {"y": None}]}]},
    }
    rows = rows_of(write_json(tmp_path, document))
    assert [(row["chat_id"], row["message_id"]) for row in rows] == [
        (777, 1),
        (777, 2),
        (777, 1),
        (1300000000, 9),
    ]
    assert [row["source_position"] for row in rows] == [
        "chats.list[0].messages[0]",
        "chats.list[0].messages[1]",
        "chats.list[1].messages[0]",
        "left_chats.list[0].messages[0]",
    ]


def test_batches_follow_batch_size_and_stream(tmp_path: Path) -> None:
    path = write_json(tmp_path, chat(*(message(i) for i in range(1, 2501))))
    batches = list(read_json_export(path, ReadOptions(batch_size=1000)))
    assert [batch.num_rows for batch in batches] == [1000, 1000, 500]
    # A truncated file still yields what came before the break, then fails: the reader
    # streams instead of loading the file.
    data = path.read_bytes()
    cut = write_bytes(tmp_path, data[: len(data) * 3 // 4], "cut.json")
    received = 0
    with pytest.raises(DumpError) as error:
        for batch in read_json_export(cut, ReadOptions(batch_size=100)):
            received += batch.num_rows
    assert received >= 1000
    assert error.value.file == str(cut)
    assert "truncated" in error.value.message
    assert error.value.position is not None
    assert error.value.position.startswith(f"byte {len(data) * 3 // 4}")
    assert "messages[18" in error.value.position


@pytest.mark.parametrize("root", ["chat", "account"])
def test_a_finished_read_frees_its_reader_without_the_collector(tmp_path: Path, root: str) -> None:
    """The reader and its chats hold no cycle: what a read leaves behind goes as soon as
    the read ends, not at the next full collection."""
    first = chat(*(message(i) for i in range(1, 301)))
    document: dict[str, Any] = first
    if root == "account":
        second = chat(*(message(i) for i in range(1, 101)), chat_id=778)
        document = {"chats": {"about": "", "list": [first, second]}}
    path = write_json(tmp_path, document)
    gc.collect()
    gc.disable()
    try:
        rows = sum(batch.num_rows for batch in read_json_export(path, ReadOptions()))
        left = [o for o in gc.get_objects() if isinstance(o, json_pass.JsonPass)]
    finally:
        gc.enable()
    assert rows == (400 if root == "account" else 300)
    assert left == []


def test_large_batches_are_joined_from_parts(tmp_path: Path) -> None:
    path = write_json(tmp_path, chat(*(message(i) for i in range(1, 7001))))
    for size, expected in ((3000, [3000, 3000, 1000]), (4097, [4097, 2903]), (9000, [7000])):
        batches = list(read_json_export(path, ReadOptions(batch_size=size)))
        assert [batch.num_rows for batch in batches] == expected
        ids = [value for batch in batches for value in batch.column("message_id").to_pylist()]
        assert ids == list(range(1, 7001))


def test_edited_epoch_sentinel_is_no_edit(tmp_path: Path) -> None:
    entries = [
        message(1, edited="1970-01-01T03:00:00"),
        message(2, edited="1969-12-31T19:00:00"),
        message(3, edited="2023-05-01T12:30:00"),
        message(4, edited="2023-05-01T12:30:00", edited_unixtime="1682944200"),
    ]
    for entry in entries:
        del entry["date_unixtime"]
    rows = rows_of(write_json(tmp_path, chat(*entries)), default_zone="Europe/Moscow")
    assert [row["edited_at"] for row in rows] == [
        None,
        None,
        instant("2023-05-01T09:30:00+00:00"),
        instant("2023-05-01T12:30:00+00:00"),
    ]
    assert rows[0]["extra"]["edited"] == "1970-01-01T03:00:00"


def test_text_forms_and_fields(tmp_path: Path) -> None:
    entries = [
        message(1, text=["Hi ", {"type": "bold", "text": "you"}, ""]),
        message(
            2,
            text=["see ", {"type": "text_link", "text": "this", "href": "https://x.example"}, "🙂"],
            text_entities=[
                {"type": "plain", "text": "see "},
                {"type": "text_link", "text": "this", "href": "https://x.example"},
                {"type": "custom_emoji", "text": "🙂", "document_id": "5368"},
            ],
        ),
        message(3, text="", file="files/a.pdf", mime_type="application/pdf", file_size=10),
        message(4, text="", file="voice.ogg", media_type="voice_message", duration_seconds=3),
        message(5, text="", location_information={"latitude": 1.5, "longitude": 2.5}),
        message(6, from_id=None, **{"from": None}, future_field={"nested": [1, 2]}),
        message(7, forwarded_from="Chan", author="Sig", via_bot="@bot", reply_to_message_id=6),
        {"id": 8, "type": "unsupported"},
        message(9, text="the real text", text_entities=[{"type": "plain", "text": "other"}]),
    ]
    rows = rows_of(write_json(tmp_path, chat(*entries)))
    assert rows[0]["text"] == "Hi you"
    assert rows[0]["entities"] == [
        {"type": "plain", "text": "Hi "},
        {"type": "bold", "text": "you"},
    ]
    # text_entities (objects only) gives the pieces when it says the same as text.
    assert rows[1]["text"] == "see this🙂"
    assert rows[1]["entities"][1]["href"] == "https://x.example"
    assert rows[1]["entities"][2] == {"type": "custom_emoji", "text": "🙂", "document_id": "5368"}
    assert "text" not in rows[1]["extra"]
    # When they disagree (hand-made files only) text wins and the entities stay in extra.
    assert rows[8]["text"] == "the real text"
    assert rows[8]["entities"] == [{"type": "plain", "text": "the real text"}]
    assert rows[8]["extra"]["text_entities"] == [{"type": "plain", "text": "other"}]
    assert (rows[2]["media_type"], rows[2]["media_path"]) == ("file", "files/a.pdf")
    assert rows[2]["extra"]["mime_type"] == "application/pdf"
    assert (rows[3]["media_type"], rows[3]["media_path"]) == ("voice_message", "voice.ogg")
    assert rows[4]["media_type"] == "location"
    assert rows[4]["extra"]["location_information"] == {"latitude": 1.5, "longitude": 2.5}
    assert (rows[5]["sender_id"], rows[5]["sender_name"]) == (None, None)
    assert rows[5]["extra"]["future_field"] == {"nested": [1, 2]}
    assert (rows[6]["forwarded_from"], rows[6]["author"], rows[6]["via_bot"]) == (
        "Chan",
        "Sig",
        "@bot",
    )
    assert rows[6]["reply_to_message_id"] == 6
    assert rows[7]["kind"] == "message"
    assert rows[7]["extra"] == {"type": "unsupported"}
    assert rows[7]["sent_at"] == rows[6]["sent_at"]
    assert rows[7]["time_source"] == "inferred"


def test_service_entries_and_unknown_actions(tmp_path: Path) -> None:
    service = {
        "id": 5,
        "type": "service",
        "date": "2023-05-01T12:00:00",
        "date_unixtime": "1682942400",
        "actor": "Bot",
        "actor_id": "user9",
        "action": "some_future_action",
        "brand_new": [1],
        "text": "",
        "text_entities": [],
    }
    (row,) = rows_of(write_json(tmp_path, chat(service)))
    assert (row["kind"], row["action"], row["actor"]) == ("service", "some_future_action", "Bot")
    assert row["extra"]["brand_new"] == [1]
    assert row["extra"]["actor_id"] == "user9"
    assert row["sender_id"] is None


def test_webview_data_duplicate_text_key(tmp_path: Path) -> None:
    # tdesktop writes "text" twice for send_webview_data: the button text, then the text.
    entry = (
        '{\n   "id": 6,\n   "type": "service",\n   "date": "2023-05-01T12:00:00",\n'
        '   "date_unixtime": "1682942400",\n   "action": "send_webview_data",\n'
        '   "text": "Open app",\n   "text": "",\n   "text_entities": []\n  }'
    )
    body = '{\n "name": "Bot", "type": "bot_chat", "id": 9,\n "messages": [\n  ' + entry + "\n ]\n}"
    (row,) = rows_of(write_bytes(tmp_path, body.encode()))
    assert row["action"] == "send_webview_data"
    assert row["text"] == ""
    assert row["extra"]["action_text"] == "Open app"


# -- invalid JSON that is read anyway ------------------------------------------------------


def test_hex_escapes_are_repaired_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    text = json.dumps(chat(message(1, text="a__b"), message(2, text="C:__x41")), indent=1)
    # tdesktop wrote control characters as \xHH; an escaped backslash before x stays text.
    text = text.replace("a__b", "a\\x0Bb\\x1f").replace("C:__x41", "C:\\\\x41")
    path = write_bytes(tmp_path, text.encode())
    with caplog.at_level(logging.WARNING, logger="tg_pipeline.readers"):
        rows = rows_of(path)
    assert rows[0]["text"] == "a\x0bb\x1f"
    assert rows[1]["text"] == "C:\\x41"
    warnings = [r for r in caplog.records if r.name == "tg_pipeline.readers"]
    assert len(warnings) == 1
    assert str(path) in warnings[0].getMessage()
    assert "repaired 2" in warnings[0].getMessage()


def test_raw_control_characters_are_repaired(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    entries = [message(i, text=f"line {i}") for i in range(1, 3001)]
    text = json.dumps(chat(*entries), indent=1)
    # Far enough in that batches were already yielded when the reader has to start over
    # in careful mode: it must neither repeat nor lose a record.
    text = text.replace('"line 2900"', '"line\n2900\t\x01"')
    path = write_bytes(tmp_path, text.encode())
    assert text.index("line\n2900") > 256 * 1024
    with caplog.at_level(logging.WARNING, logger="tg_pipeline.readers"):
        batches = list(read_json_export(path, ReadOptions(batch_size=100)))
    rows = [row for batch in batches for row in batch_to_dicts(batch)]
    assert [row["message_id"] for row in rows] == list(range(1, 3001))
    assert by_id(rows)[2900]["text"] == "line\n2900\t\x01"
    messages = [r.getMessage() for r in caplog.records if r.name == "tg_pipeline.readers"]
    assert len(messages) == 1
    assert "repaired 3" in messages[0]


def test_repair_survives_every_chunk_boundary() -> None:
    rng = random.Random(5)
    pieces = ['"a\\x01"', '"\\\\x41"', '"\\\\\\x1F"', '"send_webview_data"', " ", "x", "\\\\"]
    source = "".join(rng.choice(pieces) for _ in range(400)).encode()
    whole = b"".join(RepairingStream(_Bytes(source), chunk_size=1 << 20).chunks())
    assert whole.count(b"\\u00") == source.count(b'"a\\x01"') + source.count(b'"\\\\\\x1F"')
    careful = b"".join(RepairingStream(_Bytes(source), careful=True).chunks())
    assert careful == whole
    for size in (1, 7, 64, 300, 301, 777):
        for mode in (False, True):
            stream = RepairingStream(_Bytes(source), careful=mode, chunk_size=size)
            assert b"".join(stream.chunks()) == whole


class _Bytes:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def read(self, size: int) -> bytes:
        chunk = self.data[self.at : self.at + size]
        self.at += len(chunk)
        return chunk


def test_byte_order_mark_is_skipped(tmp_path: Path) -> None:
    path = write_bytes(tmp_path, b"\xef\xbb\xbf" + json.dumps(chat(message(1))).encode())
    assert [row["message_id"] for row in rows_of(path)] == [1]


# -- bad input ------------------------------------------------------------------------------


def bad(tmp_path: Path, data: bytes | Any, name: str = "bad.json") -> DumpError:
    if isinstance(data, bytes):
        path = write_bytes(tmp_path, data, name)
    else:
        path = write_json(tmp_path, data, name)
    with pytest.raises(DumpError) as error:
        rows_of(path)
    assert error.value.file == str(path)
    assert str(path) in str(error.value)
    return error.value


def test_truncated_export(seed_dir: Path, tmp_path: Path) -> None:
    data = (seed_dir / "result.json").read_bytes()
    error = bad(tmp_path, data[:1500])
    assert "truncated" in error.message
    in_message = data[:1500].count(b'"id": ') - 2  # the chat's own id comes first
    assert error.position == f"byte 1500 (in messages[{in_message}])"


def test_not_a_telegram_export(tmp_path: Path) -> None:
    assert "not a Telegram Desktop export" in bad(tmp_path, {"foo": [1, 2, {"bar": 3}]}).message
    assert "not a Telegram Desktop export" in bad(tmp_path, [1, 2, 3], "list.json").message
    assert "not a Telegram Desktop export" in bad(tmp_path, b'"text"', "string.json").message
    assert "empty" in bad(tmp_path, b"", "empty.json").message
    assert "empty" in bad(tmp_path, b" \n\t ", "blank.json").message
    assert "not a list" in bad(tmp_path, {"messages": {"a": 1}}, "object.json").message


def test_malformed_messages_reject_the_dump(tmp_path: Path) -> None:
    missing_id = chat(message(1), {"type": "message", "date_unixtime": "1", "text": ""})
    error = bad(tmp_path, missing_id, "no_id.json")
    assert (error.message, error.position) == ("message has no 'id'", "messages[1]")
    missing_type = chat(message(1), message(2), {"id": 3, "date_unixtime": "1"})
    error = bad(tmp_path, missing_type, "no_type.json")
    assert (error.message, error.position) == ("message has no 'type'", "messages[2]")
    text_id = chat(message(1), {**message(2), "id": "2"})
    assert "not an integer" in bad(tmp_path, text_id, "text_id.json").message
    float_id = {"chats": {"list": [chat(message(1)), chat({**message(2), "id": 2.5})]}}
    error = bad(tmp_path, float_id, "float_id.json")
    assert error.position == "chats.list[1].messages[0]"
    no_date = chat({"id": 1, "type": "message", "text": "x"})
    assert "no 'date'" in bad(tmp_path, no_date, "no_date.json").message
    bad_date = chat({**message(1), "date_unixtime": "soon"})
    assert "date_unixtime" in bad(tmp_path, bad_date, "bad_date.json").message
    not_object = chat(message(1), "just a string")
    assert bad(tmp_path, not_object, "string_message.json").position == "messages[1]"


def test_invalid_utf8_and_garbage(tmp_path: Path) -> None:
    body = json.dumps(chat(message(1, text="ok"), message(2, text="@@"))).encode()
    error = bad(tmp_path, body.replace(b"@@", b"\xff\xfe"), "utf8.json")
    assert "UTF-8" in error.message
    assert error.position is not None
    offset = int(error.position.split()[1])
    assert body.index(b"@@") <= offset <= body.index(b"@@") + 2
    assert error.position.endswith("(in messages[1])")
    garbage = random.Random(3).randbytes(50_000)
    assert "not a Telegram Desktop export" in bad(tmp_path, garbage, "garbage.bin").message
    error = bad(tmp_path, b'{"messages": [' + garbage, "garbage.json")
    assert error.position is not None
    assert error.position.startswith("byte ")
    trailing = json.dumps(chat(message(1))).encode() + b" trailing"
    assert "after the end" in bad(tmp_path, trailing, "trailing.json").message
    invalid_escape = json.dumps(chat(message(1, text="@@"))).encode().replace(b"@@", b"\\q")
    assert "invalid JSON" in bad(tmp_path, invalid_escape, "escape.json").message


def test_unknown_zone_is_refused(seed_dir: Path) -> None:
    with pytest.raises(Exception, match="unknown time zone"):
        rows_of(seed_dir / "result.json", default_zone="Mars/Olympus")
