"""Layouts real exports have that the newest tdesktop no longer writes.

The project's ``migrated_2021`` fixture is written in tdesktop's markup of late 2021 (see
``tg_pipeline_tests.fixtures.chats.migrated_chat``); the shared real exports show the same
layouts in the wild.
"""

from __future__ import annotations

import logging
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tg_pipeline.records import ReadOptions
from tg_pipeline_tests.conftest import shared_fixture
from tg_pipeline_tests.fixtures.chats import MIGRATED, fixtures
from tg_pipeline_tests.readers_tests.format_pairs import read_html_records, read_json_records

(MIGRATED_FIXTURE,) = [f for f in fixtures() if f.name == "migrated_2021"]
OPTIONS = ReadOptions(default_zone=MIGRATED_FIXTURE.zone)


def _by_id(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {row["message_id"]: row for row in rows}


def _html() -> dict[int, dict[str, Any]]:
    return _by_id(read_html_records(MIGRATED_FIXTURE.html_dir, OPTIONS))


def _json() -> dict[int, dict[str, Any]]:
    return _by_id(read_json_records(MIGRATED_FIXTURE.json_path, OPTIONS))


def test_old_forward_header_gives_name_via_bot_and_forward_date() -> None:
    forward = _html()[256 - MIGRATED]
    assert forward["forwarded_from"] == "Full bins"
    assert forward["via_bot"] == "@Qualitymovbot"
    assert forward["extra"]["forwarded_date"] == "2021-09-29T10:20:00+03:00"
    assert _json()[256 - MIGRATED]["via_bot"] == "@Qualitymovbot"


def test_migrated_ids_keep_their_service_entries_and_replies() -> None:
    html, json = _html(), _json()
    assert list(html) == list(json)
    invite = html[254 - MIGRATED]
    assert invite["kind"] == "service" and invite["action"] == "invite_members"
    assert invite["extra"]["migrated_group_message_id"] == 254
    assert html[255 - MIGRATED]["reply_to_message_id"] == 253 - MIGRATED
    assert html[12]["reply_to_message_id"] == 253 - MIGRATED
    assert html[11]["action"] == "migrate_from_group"
    assert html[257 - MIGRATED]["action"] == "migrate_to_supergroup"


def test_replies_to_another_chat_do_not_link_into_this_one() -> None:
    html, json = _html(), _json()
    assert json[15]["reply_to_message_id"] is None
    assert json[15]["extra"]["reply_to_peer_id"] == "channel1901773654"
    assert json[15]["extra"]["reply_to_message_id"] == 207
    assert html[15]["reply_to_message_id"] is None
    assert "reply_to_peer_id" in html[15]["extra"]
    assert "reply_to" not in html[15]["extra"]


def test_service_entry_before_any_message_takes_its_day_separator() -> None:
    first = _html()[252 - MIGRATED]
    day = datetime(2021, 10, 1, tzinfo=ZoneInfo("Europe/Moscow"))
    assert first["kind"] == "service"
    assert datetime.fromisoformat(first["sent_at"]) == day


def test_whitespace_of_the_text_itself_is_kept() -> None:
    html, json = _html(), _json()
    assert html[13]["text"] == json[13]["text"] == "\nMcAfee report  "
    assert html[14]["text"] == json[14]["text"] == "  indented text"


def test_trantor_reply_to_another_chat() -> None:
    path = shared_fixture("real_exports", "trantor_channel_json", "result.json")
    rows = _by_id(read_json_records(path))
    reply = rows[534]
    assert reply["reply_to_message_id"] is None
    assert reply["extra"]["reply_to_peer_id"] == "channel1901773654"
    assert reply["extra"]["reply_to_message_id"] == 207
    in_chat = [r for r in rows.values() if r["reply_to_message_id"] is not None]
    assert in_chat and all(r["reply_to_message_id"] in rows for r in in_chat)


def _devcomputaria(tmp_path: Path, *, whole: bool) -> Path:
    source = shared_fixture("real_exports", "devcomputaria_channel_html")
    folder = tmp_path / "devcomputaria"
    folder.mkdir()
    shutil.copy(source / "messages2.html", folder / "messages2.html")
    if whole:
        shutil.copy(source / "index.html", folder / "messages.html")
    return folder


def test_devcomputaria_forwards_are_names_with_their_dates(tmp_path: Path) -> None:
    rows = read_html_records(_devcomputaria(tmp_path, whole=True))
    assert len(rows) == 1471
    forwards = [r for r in rows if r["forwarded_from"] is not None]
    assert len(forwards) == 62
    assert {r["forwarded_from"] for r in forwards} == {
        "The Bug Bounty Hunter",
        "fs0c131y - Official Channel",
    }
    for row in forwards:
        stamp = datetime.fromisoformat(row["extra"]["forwarded_date"])
        assert stamp <= datetime.fromisoformat(row["sent_at"])
    first = next(r for r in forwards if r["message_id"] == min(f["message_id"] for f in forwards))
    assert first["extra"]["forwarded_date"] == "2019-05-13T05:30:01+00:00"


def _missing_pages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "tg_pipeline.readers" and "missing page" in record.getMessage()
    ]


def test_devcomputaria_as_published_names_its_missing_first_page(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = _devcomputaria(tmp_path, whole=False)
    caplog.set_level(logging.WARNING, logger="tg_pipeline.readers")
    rows = read_html_records(folder)
    assert len(rows) == 471
    (warning,) = _missing_pages(caplog)
    assert "\n" not in warning
    assert warning.startswith(f"{folder / 'messages.html'}: missing page")


@pytest.mark.parametrize(
    ("removed", "renamed"),
    [("messages2.html", None), ("messages.html", "index.html"), ("messages3.html", None)],
)
def test_a_page_the_links_name_but_the_dump_lacks_is_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, removed: str, renamed: str | None
) -> None:
    folder = tmp_path / "chat"
    shutil.copytree(MIGRATED_FIXTURE.html_dir, folder)
    complete = read_html_records(folder, OPTIONS)
    assert not _missing_pages(caplog)
    gone = {r["message_id"] for r in complete if r["source_file"].endswith("/" + removed)}
    if renamed:
        (folder / removed).rename(folder / renamed)
    else:
        (folder / removed).unlink()
    caplog.set_level(logging.WARNING, logger="tg_pipeline.readers")
    rows = read_html_records(folder, OPTIONS)
    assert _missing_pages(caplog) == [
        m for m in _missing_pages(caplog) if m.startswith(f"{folder / removed}: missing page")
    ]
    assert len(_missing_pages(caplog)) == 1
    # The pages present are read whole; only the missing page's records are absent.
    assert [r["message_id"] for r in rows] == [
        r["message_id"] for r in complete if r["message_id"] not in gone
    ]
