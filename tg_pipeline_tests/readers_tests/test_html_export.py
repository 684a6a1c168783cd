"""The HTML reader on real Telegram Desktop pages, plus small pages written in its layout."""

from __future__ import annotations

import multiprocessing
import re
import shutil
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tg_pipeline.errors import DumpError
from tg_pipeline.readers import html_page
from tg_pipeline.readers.html_export import order_pages, read_html_export
from tg_pipeline.records import MESSAGE_SCHEMA, ReadOptions, batch_to_dicts
from tg_pipeline_tests.conftest import shared_fixture

SEQUENTIAL = ReadOptions(workers=1)
PARALLEL = ReadOptions(workers=2)


def html_sample(name: str) -> Path:
    return shared_fixture("telegram_samples", "html", name)


def as_export(tmp_path: Path, sources: Iterable[Path], names: Iterable[str]) -> list[Path]:
    """Copy sample pages into a folder under the names tdesktop gives them."""
    folder = tmp_path / "export"
    folder.mkdir(exist_ok=True)
    pages = []
    for source, name in zip(sources, names, strict=True):
        target = folder / name
        shutil.copyfile(source, target)
        pages.append(target)
    return order_pages(pages)


def read(pages: Iterable[Path], options: ReadOptions = SEQUENTIAL) -> list[dict[str, Any]]:
    rows = []
    for batch in read_html_export(list(pages), options):
        assert batch.schema == MESSAGE_SCHEMA
        rows.extend(batch_to_dicts(batch))
    for row in rows:
        assert "".join(piece["text"] for piece in row["entities"]) == row["text"]
    return rows


def by_id(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {row["message_id"]: row for row in rows}


def write_page(path: Path, entries: str, chat: str = "Test Chat") -> Path:
    """A page in tdesktop's layout around the given message elements."""
    path.write_text(
        '<!DOCTYPE html>\n<html>\n <head>\n  <meta charset="utf-8"/>\n'
        "  <title>Exported Data</title>\n </head>\n"
        ' <body onload="CheckLocation();">\n  <div class="page_wrap">\n'
        '   <div class="page_header">\n    <div class="content">\n'
        f'     <div class="text bold">\n{chat}\n     </div>\n    </div>\n   </div>\n'
        '   <div class="page_body chat_page">\n    <div class="history">\n'
        f"{entries}\n    </div>\n   </div>\n  </div>\n </body>\n</html>\n",
        encoding="utf-8",
    )
    return path


def message(
    message_id: int,
    body: str,
    *,
    title: str = "12.02.2025 10:00:00 UTC+03:00",
    sender: str | None = "Alice",
) -> str:
    joined = "" if sender else " joined"
    from_name = f'<div class="from_name">\n{sender}\n</div>' if sender else ""
    return (
        f'<div class="message default clearfix{joined}" id="message{message_id}">\n'
        f'<div class="body">\n<div class="pull_right date details" title="{title}">\n'
        f"10:00\n</div>\n{from_name}\n{body}\n</div>\n</div>"
    )


def service(message_id: int, text: str) -> str:
    return (
        f'<div class="message service" id="message{message_id}">\n'
        f'<div class="body details">\n{text}\n</div>\n</div>'
    )


# -- the seed pair the Go service shipped with ---------------------------------------------


def test_seed_page_reads_twelve_records(seed_dir: Path) -> None:
    rows = read([seed_dir / "messages.html"])
    assert [row["message_id"] for row in rows] == list(range(182649, 182661))
    assert [row["message_id"] for row in rows if row["kind"] == "service"] == [182649, 182650]
    records = by_id(rows)
    assert records[182649]["action"] == "invite_members"
    assert records[182650]["action"] == "remove_members"
    assert records[182650]["actor"] == "Я"
    assert records[182653]["sender_name"] == "username2"
    assert records[182654]["reply_to_message_id"] == 182652
    assert records[182658]["reply_to_message_id"] == 182649
    assert records[182651]["sent_at"] == "2022-08-31T09:01:45+00:00"
    assert records[182651]["time_source"] == "html_offset"
    assert all(row["chat_id"] is None and row["sender_id"] is None for row in rows)
    assert {row["chat_name"] for row in rows} == {"chat name"}
    assert records[182651]["source_position"] == "element 3 (message182651)"
    assert records[182651]["source_file"] == str(seed_dir / "messages.html")


def test_seed_details_match_the_json_export(seed_dir: Path) -> None:
    records = by_id(read([seed_dir / "messages.html"]))
    assert records[182659]["entities"] == [
        {"type": "mention", "text": "@username4"},
        {"type": "plain", "text": " message9"},
    ]
    assert records[182651]["text"] == "message1"
    photo = records[182656]
    assert photo["media_type"] == "photo"
    assert photo["media_path"] is None
    assert photo["extra"]["media_note"].startswith("Not included")
    assert photo["reactions"] == [
        {"type": "emoji", "count": 1, "emoji": "👍", "recent": [{"from": "Parus Major"}]}
    ]
    # Service entries have no time: the first ones take the next message's instant.
    assert records[182649]["sent_at"] == "2022-08-31T09:01:45+00:00"
    assert records[182649]["time_source"] == "inferred"


def test_chat_id_is_taken_from_options(seed_dir: Path) -> None:
    rows = read([seed_dir / "messages.html"], ReadOptions(workers=1, chat_id=1124496986))
    assert {row["chat_id"] for row in rows} == {1124496986}


# -- real and synthetic exports from public repositories ------------------------------------


@pytest.fixture
def vorot93_pages(tmp_path: Path) -> list[Path]:
    return as_export(
        tmp_path,
        [
            html_sample("vorot93_telegram-export-sqlite__basic_export_messages2.html"),
            html_sample("vorot93_telegram-export-sqlite__basic_export_messages.html"),
        ],
        ["messages2.html", "messages.html"],
    )


def test_two_page_export(vorot93_pages: list[Path]) -> None:
    assert [page.name for page in vorot93_pages] == ["messages.html", "messages2.html"]
    rows = read(vorot93_pages)
    # The day separators (ids -1 and -2, counting on across pages) are not records.
    assert [row["message_id"] for row in rows] == [101, 102, 103, 104, 105, 201, 202, 203]
    records = by_id(rows)
    assert records[102]["sender_name"] == "Alice"
    assert records[102]["reply_to_message_id"] == 101
    forwarded = records[103]
    assert forwarded["sender_name"] == "Bob"
    assert forwarded["via_bot"] == "@helper_bot"
    assert forwarded["forwarded_from"] == "Carol"
    assert forwarded["extra"]["forwarded_date"] == "2025-02-11T22:00:00+00:00"
    assert forwarded["media_type"] == "photo"
    assert forwarded["media_path"] == "photos/photo_1.jpg"
    assert forwarded["entities"] == [{"type": "spoiler", "text": "secret"}]
    assert forwarded["reactions"] == [{"type": "emoji", "count": 2, "emoji": "👍"}]
    assert records[101]["entities"] == [
        {"type": "plain", "text": "Hello "},
        {"type": "bold", "text": "family"},
        {"type": "plain", "text": " "},
        {"type": "text_link", "text": "link", "href": "https://example.com"},
    ]
    assert records[105]["media_type"] == "file"
    assert records[105]["media_path"] == "files/report.pdf"
    poll = records[201]
    assert poll["media_type"] == "poll"
    assert poll["extra"]["poll"] == {
        "question": "Lunch?",
        "closed": False,
        "total_voters": 3,
        "answers": [
            {"text": "Pizza", "voters": 2, "chosen": False},
            {"text": "Sushi", "voters": 1, "chosen": True},
        ],
    }
    assert records[104]["action"] == "invite_members"
    assert records[104]["extra"]["members"] == ["Bob"]
    assert records[202]["action"] == "edit_group_title"
    assert records[202]["extra"]["title"] == "Family Archive"
    assert records[203]["action"] is None
    assert records[203]["text"] == ""
    assert records[203]["extra"]["service_text"] == "Unknown service payload from future Telegram"
    assert {row["time_source"] for row in rows if row["kind"] == "message"} == {"html_offset"}


@pytest.mark.parametrize("options", [SEQUENTIAL, PARALLEL], ids=["sequential", "parallel"])
def test_joined_message_takes_sender_across_page_boundary(
    vorot93_pages: list[Path], options: ReadOptions
) -> None:
    second = vorot93_pages[1]
    html = second.read_text(encoding="utf-8")
    html = html.replace('clearfix" id="message201"', 'clearfix joined" id="message201"')
    html = html.replace('<div class="from_name">Bob</div>', "")
    second.write_text(html, encoding="utf-8")
    records = by_id(read(vorot93_pages, options))
    assert records[201]["sender_name"] == "Alice"  # the last message of page 1
    assert records[201]["via_bot"] is None


@pytest.mark.parametrize("options", [SEQUENTIAL, PARALLEL], ids=["sequential", "parallel"])
def test_leading_service_entry_takes_time_from_previous_page(
    vorot93_pages: list[Path], options: ReadOptions
) -> None:
    second = vorot93_pages[1]
    html = second.read_text(encoding="utf-8")
    html = re.sub(
        r'<div class="message default clearfix" id="message201">.*?\n    </div>\n',
        "",
        html,
        flags=re.DOTALL,
    )
    assert "message201" not in html
    second.write_text(html, encoding="utf-8")
    records = by_id(read(vorot93_pages, options))
    # Page 1 ends on 12 February; page 2's separator says 13 February, which is later.
    assert records[202]["sent_at"] == "2025-02-13T00:00:00+00:00"
    assert records[203]["sent_at"] == "2025-02-13T00:00:00+00:00"
    assert records[202]["time_source"] == "inferred"


def test_export_without_utc_offset_reads_in_default_zone() -> None:
    page = html_sample("devcomputaria_cybersecurity-news__messages40.html")
    html = page.read_text(encoding="utf-8")
    rows = read([page])
    assert len(rows) == html.count('class="message default')
    assert {row["time_source"] for row in rows} == {"assumed"}
    records = by_id(rows)
    assert records[39098]["sent_at"] == "2022-03-16T14:45:19+00:00"
    channel = "🛡 Cybersecurity & Privacy news 🛡"
    assert records[39098]["chat_name"] == channel
    assert records[39099]["sender_name"] == channel  # joined run
    assert records[39098]["entities"][0] == {
        "type": "bold",
        "text": "🛠 OpenSSL Toolkit 3.0.2 🛠",
    }
    assert records[39098]["text"].endswith('via "Packet Storm Security".')

    moscow = by_id(read([page], ReadOptions(workers=1, default_zone="Europe/Moscow")))
    assert moscow[39098]["sent_at"] == "2022-03-16T11:45:19+00:00"
    shift = {
        key: datetime.fromisoformat(records[key]["sent_at"])
        - datetime.fromisoformat(moscow[key]["sent_at"])
        for key in records
    }
    assert {delta.total_seconds() for delta in shift.values()} == {3 * 3600}


def test_first_and_last_page_of_a_group(tmp_path: Path) -> None:
    pages = as_export(
        tmp_path,
        [
            html_sample("sapienza_gme-pump-xrp__messages120.html"),
            html_sample("sapienza_gme-pump-xrp__messages1.html"),
        ],
        ["messages120.html", "messages.html"],
    )
    rows = read(pages, PARALLEL)
    ids = [row["message_id"] for row in rows]
    assert ids == sorted(ids) and min(ids) > 0
    records = by_id(rows)
    assert records[1]["kind"] == "service"
    assert records[1]["action"] == "invite_members"
    assert records[300835]["reply_to_message_id"] == 298044  # into an earlier page
    polls = [row for row in rows if row["media_type"] == "poll"]
    assert [poll["extra"]["poll"]["question"] for poll in polls][-2:] == [
        "When did you buy your first Crypto?",
        "What are you doing with XRP?",
    ]
    assert polls[-1]["extra"]["poll"]["total_voters"] == 13216
    assert records[300411]["sender_name"] == records[300401]["sender_name"]
    last_page = [row for row in rows if row["source_file"].endswith("messages120.html")]
    assert len(last_page) == 13


def test_media_page(tmp_path: Path) -> None:
    source = html_sample("vorot93_telegram-export-sqlite__tdesktop_media_messages.html")
    # The sample has one malformed id; as written it is rejected, naming the element.
    with pytest.raises(DumpError) as caught:
        read([source])
    assert caught.value.file == str(source)
    assert caught.value.position == "element 4 (message912b)"
    fixed = tmp_path / "messages.html"
    fixed.write_text(
        source.read_text(encoding="utf-8").replace("message912b", "message9120"),
        encoding="utf-8",
    )
    records = by_id(read([fixed]))
    assert records[910]["media_type"] == "voice_message"
    assert records[910]["media_path"] == "voice_messages/audio_1.ogg"
    assert records[910]["extra"]["media_details"]["status"] == "00:04, 12.4 KB"
    assert records[911]["media_type"] == "audio_file"
    assert records[911]["media_path"] == "files/song.mp3"
    assert records[9120]["media_type"] == "video_file"
    assert records[9120]["media_path"] == "files/clip.mp4"
    assert records[9120]["extra"]["media_details"]["duration"] == "00:19"
    assert records[912]["action"] == "edit_group_title"
    assert records[913]["action"] == "group_call"
    assert records[914]["action"] == "delete_group_photo"
    assert records[914]["actor"] == "Bob"


# -- markup written by tdesktop's FormatText and pushMedia ----------------------------------


def test_inline_formatting_becomes_entity_pieces(tmp_path: Path) -> None:
    text = (
        '<div class="text">\n'
        "<strong>bold</strong> <em>it</em> <code>code</code> <pre>pre</pre> "
        '<a href="https://a.example/">https://a.example/</a> '
        '<a href="https://b.example/x">label</a> '
        '<a href="https://t.me/alice">@alice</a> '
        '<a href="" onclick="return ShowMentionName()">Bob</a> '
        '<a href="" onclick="return ShowHashtag(&quot;tag&quot;)">#tag</a> '
        '<a href="" onclick="return ShowCashtag(&quot;USD&quot;)">$USD</a> '
        '<a href="" onclick="return ShowBotCommand(&quot;start&quot;)">/start</a> '
        '<a href="mailto:a@b.example">a@b.example</a> '
        '<a href="tel:+123">+123</a> '
        "<s>gone</s> <u>under</u> <blockquote>quote</blockquote> "
        '<span class="spoiler hidden" onclick="ShowSpoiler(this)">'
        '<span aria-hidden="true">hidden</span></span> '
        '<a href = "../stickers/emoji.webp">😀</a> '
        '<a href="" onclick="return ShowNotLoadedEmoji();">🙂</a>'
        "<br>line &amp; &lt;tag&gt; &quot;q&quot;&#x0A;"
        "<strong>a<em>b</em>c</strong>"
        "\n</div>"
    )
    page = write_page(tmp_path / "messages.html", message(1, text))
    (row,) = read([page])
    pieces = [(piece["type"], piece["text"]) for piece in row["entities"] if piece["text"] != " "]
    assert pieces == [
        ("bold", "bold"),
        ("italic", "it"),
        ("code", "code"),
        ("pre", "pre"),
        ("link", "https://a.example/"),
        ("text_link", "label"),
        ("mention", "@alice"),
        ("mention_name", "Bob"),
        ("hashtag", "#tag"),
        ("cashtag", "$USD"),
        ("bot_command", "/start"),
        ("email", "a@b.example"),
        ("phone", "+123"),
        ("strikethrough", "gone"),
        ("underline", "under"),
        ("blockquote", "quote"),
        ("spoiler", "hidden"),
        ("custom_emoji", "😀"),
        ("custom_emoji", "🙂"),
        ("plain", '\nline & <tag> "q"\n'),
        ("bold", "a"),
        ("italic", "b"),
        ("bold", "c"),
    ]
    link = next(piece for piece in row["entities"] if piece["type"] == "text_link")
    assert link["href"] == "https://b.example/x"
    emoji = next(piece for piece in row["entities"] if piece["type"] == "custom_emoji")
    assert emoji["document_id"] == "../stickers/emoji.webp"
    assert row["text"].startswith("bold it code pre https://a.example/ label @alice")
    assert row["text"].endswith('line & <tag> "q"\nabc')


def test_media_blocks_and_captions(tmp_path: Path) -> None:
    def generic(kind: str, title: str, status: str, href: str | None = None, desc: str = "") -> str:
        tag = (
            f'a class="media clearfix pull_left block_link {kind}" href="{href}"'
            if href
            else (f'div class="media clearfix pull_left {kind}"')
        )
        closing = "a" if href else "div"
        description = f'<div class="description">{desc}</div>' if desc else ""
        return (
            f'<div class="media_wrap clearfix"><{tag}><div class="fill pull_left"></div>'
            f'<div class="body"><div class="title bold">{title}</div>{description}'
            f'<div class="status details">{status}</div></div></{closing}></div>'
        )

    caption = '<div class="text">caption</div>'
    entries = [
        message(
            1,
            caption
            + generic("media_video", "Video message", "00:05", "round_video_messages/v.mp4"),
        ),
        message(2, generic("media_video", "Animation", "1 MB", "video_files/a.mp4")),
        message(
            3,
            '<div class="media_wrap clearfix"><a class="animated_wrap clearfix pull_left" '
            'href="video_files/b.mp4"><img class="animated" src="t.jpg"/></a></div>',
        ),
        message(
            4,
            '<div class="media_wrap clearfix"><a class="sticker_wrap clearfix pull_left" '
            'href="stickers/s.webp"><img class="sticker" src="s.png"/></a></div>',
        ),
        message(
            5,
            generic(
                "media_location",
                "Location",
                "55.75, 37.61",
                "https://maps.google.com/maps?q=55.75,37.61",
            ),
        ),
        message(6, generic("media_contact", "Ann Lee", "+1 555 0100")),
        message(7, generic("media_game", "Chess", "", desc="Play chess")),
        message(8, generic("media_invoice", "Socks", "$5.00", desc="Warm socks")),
        message(
            9,
            generic(
                "media_photo",
                "Sticker",
                "🙂, 12 KB",
                desc="Not included, change data exporting settings to download.",
            ),
        ),
        message(10, generic("media_call", "Bob", "Outgoing (42 seconds)")),
        message(
            11, generic("media_audio_file", "Artist – Song", "03:00", "files/song.mp3") + caption
        ),
    ]
    page = write_page(tmp_path / "messages.html", "\n".join(entries))
    records = by_id(read([page]))
    assert records[1]["media_type"] == "video_message"
    assert records[1]["media_path"] == "round_video_messages/v.mp4"
    assert records[1]["text"] == "caption"
    assert records[2]["media_type"] == "animation"
    assert records[3]["media_type"] == "animation"
    assert records[3]["media_path"] == "video_files/b.mp4"
    assert records[4]["media_type"] == "sticker"
    assert records[5]["media_type"] == "location"
    assert records[5]["media_path"] is None
    assert records[5]["extra"]["location_information"] == {"latitude": 55.75, "longitude": 37.61}
    assert records[6]["media_type"] == "contact"
    assert records[6]["extra"]["contact_information"]["phone_number"] == "+1 555 0100"
    assert records[7]["media_type"] == "game"
    assert records[7]["extra"]["media_details"]["description"] == "Play chess"
    assert records[8]["media_type"] == "invoice"
    assert records[9]["media_type"] == "sticker"
    assert records[9]["media_path"] is None
    assert records[9]["extra"]["media_note"].startswith("Not included")
    assert records[10]["kind"] == "service"
    assert records[10]["action"] == "phone_call"
    assert records[10]["actor"] == "Alice"
    assert records[10]["extra"]["media_details"]["status"] == "Outgoing (42 seconds)"
    assert records[11]["media_type"] == "audio_file"
    assert records[11]["text"] == "caption"


def test_signature_reactions_and_service_prose(tmp_path: Path) -> None:
    reactions = (
        '<span class="reactions"><span class="reaction active">'
        '<span class="emoji">❤</span><span class="userpics">'
        '<span class="userpic userpic1"><span class="initials" title="Ann Lee">AL</span>'
        '</span></span><span class="count">5</span></span>'
        '<span class="reaction paid"><span class="emoji">⭐</span>'
        '<span class="count">3</span></span></span>'
    )
    entries = [
        service(-1, "12 February 2025"),
        message(
            1, '<div class="text">post</div><div class="signature details">Editor</div>' + reactions
        ),
        service(
            2,
            "Alice pinned "
            '<a href="#go_to_message1" onclick="return GoToMessage(1)">this message</a>',
        ),
        service(3, "Alice created group &laquo;Team&raquo; with members Bob, Carol and Dan"),
        service(4, "Bob joined group by link from Alice"),
        service(5, "Alice converted this group to a supergroup"),
        service(6, "Channel photo changed"),
    ]
    page = write_page(tmp_path / "messages.html", "\n".join(entries))
    records = by_id(read([page]))
    assert records[1]["author"] == "Editor"
    assert records[1]["reactions"] == [
        {"type": "emoji", "count": 5, "emoji": "❤", "recent": [{"from": "Ann Lee"}]},
        {"type": "paid", "count": 3},
    ]
    assert (records[2]["action"], records[2]["actor"]) == ("pin_message", "Alice")
    assert records[2]["extra"]["message_id"] == 1
    assert records[2]["text"] == ""
    assert records[2]["extra"]["service_text"] == "Alice pinned this message"
    assert records[3]["action"] == "create_group"
    assert records[3]["extra"] == {
        "service_text": "Alice created group «Team» with members Bob, Carol and Dan",
        "members": ["Bob", "Carol", "Dan"],
        "title": "Team",
    }
    assert records[4]["action"] == "join_group_by_link"
    assert records[5]["action"] == "migrate_to_supergroup"
    assert records[6]["action"] == "edit_group_photo"
    assert records[6]["actor"] is None
    assert {records[n]["sent_at"] for n in range(2, 7)} == {"2025-02-12T07:00:00+00:00"}


@pytest.mark.parametrize(
    ("title", "expected", "source"),
    [
        ("31.08.2022 12:01:45 UTC+03:00", "2022-08-31T09:01:45+00:00", "html_offset"),
        ("31.08.2022 12:01:45 GMT+00:00", "2022-08-31T12:01:45+00:00", "html_offset"),
        ("31.08.2022 12:01:45 UTC-04:30", "2022-08-31T16:31:45+00:00", "html_offset"),
        ("31.08.2022 12:01:45", "2022-08-31T12:01:45+00:00", "assumed"),
    ],
)
def test_date_title_forms(tmp_path: Path, title: str, expected: str, source: str) -> None:
    entries = message(1, '<div class="text">a</div>', title=title) + message(
        2, '<div class="text">b</div>', title=title.replace("12:01:45", "12:01:50")
    )
    (first, second) = read([write_page(tmp_path / "messages.html", entries)])
    assert (first["sent_at"], first["time_source"]) == (expected, source)
    delta = datetime.fromisoformat(second["sent_at"]) - datetime.fromisoformat(first["sent_at"])
    assert delta.total_seconds() == 5


def test_order_pages_is_numeric(tmp_path: Path) -> None:
    names = ["messages10.html", "messages2.html", "messages.html", "messages9.html", "x.html"]
    ordered = order_pages(tmp_path / name for name in names)
    assert [page.name for page in ordered] == [
        "messages.html",
        "messages2.html",
        "messages9.html",
        "messages10.html",
        "x.html",
    ]
    assert [
        p.name for p in order_pages([tmp_path / "messages2.html", tmp_path / "messages1.html"])
    ] == ["messages1.html", "messages2.html"]


# -- parallel reading -----------------------------------------------------------------------


def test_parallel_result_equals_sequential(tmp_path: Path) -> None:
    sources = [
        html_sample("sapienza_gme-pump-xrp__messages1.html"),
        html_sample("devcomputaria_cybersecurity-news__messages40.html"),
        html_sample("vorot93_telegram-export-sqlite__basic_export_messages.html"),
        html_sample("vorot93_telegram-export-sqlite__basic_export_messages2.html"),
        html_sample("sapienza_gme-pump-xrp__messages120.html"),
    ]
    names = ["messages.html"] + [f"messages{n}.html" for n in range(2, len(sources) + 1)]
    pages = as_export(tmp_path, sources, names)

    def table(options: ReadOptions) -> pa.Table:
        batches = list(read_html_export(pages, options))
        assert all(batch.num_rows <= options.batch_size for batch in batches)
        return pa.Table.from_batches(batches, schema=MESSAGE_SCHEMA)

    sequential = table(ReadOptions(workers=1))
    parallel = table(ReadOptions(workers=2, batch_size=97))
    assert parallel.num_rows == sequential.num_rows > 1000
    assert parallel.equals(sequential)


def test_parallel_read_in_a_threaded_process(vorot93_pages: list[Path]) -> None:
    """A host with other threads (a Dagster run) gets a fork server, not a raw fork."""
    stop = threading.Event()
    helper = threading.Thread(target=stop.wait, daemon=True)
    helper.start()
    try:
        assert threading.active_count() > 1
        rows = read(vorot93_pages, PARALLEL)
    finally:
        stop.set()
        helper.join()
    assert len(rows) == 8


def test_abandoned_parallel_read_shuts_its_pool_down(tmp_path: Path) -> None:
    pages = [
        write_page(tmp_path / f"messages{n}.html", message(n, f'<div class="text">{n}</div>'))
        for n in range(1, 9)
    ]
    threads_before = set(threading.enumerate())
    reader = read_html_export(pages, ReadOptions(workers=2, batch_size=1))
    first = next(reader)
    assert first.num_rows == 1
    assert multiprocessing.active_children()
    reader.close()
    assert multiprocessing.active_children() == []
    assert set(threading.enumerate()) <= threads_before  # the pool's manager thread is gone


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("options", [SEQUENTIAL, PARALLEL], ids=["sequential", "parallel"])
def test_malformed_message_rejects_the_dump_naming_file_and_element(
    vorot93_pages: list[Path], options: ReadOptions
) -> None:
    second = vorot93_pages[1]
    second.write_text(
        second.read_text(encoding="utf-8").replace("13.02.2025 11:00:00", "31.02.2025 11:00:00"),
        encoding="utf-8",
    )
    with pytest.raises(DumpError) as caught:
        read(vorot93_pages, options)
    assert caught.value.file == str(second)
    assert caught.value.position == "element 2 (message201)"
    assert "31.02.2025" in caught.value.message


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"<html><body><p>hello history</p></body></html>", "no message history"),
        (b'<html><div class="history"></div></html>', "no message history"),
        (bytes(range(256)) * 64, "no message history"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00\xff" * 5000, "no message history"),
        (
            b'<div class="history"><div class="message default" id="message1x">'
            b'<div class="body"></div></div></div>',
            "is not message<integer>",
        ),
        (
            b'<div class="history"><div class="message default" id="message1">'
            b'<div class="body"><div class="pull_right date details" title="yesterday">'
            b"</div></div></div></div>",
            "date title 'yesterday'",
        ),
        (
            b'<div class="history"><div class="message default" id="message1">'
            b'<div class="body"><div class="text">no date</div></div></div></div>',
            "without a date title",
        ),
    ],
    ids=["no-history", "empty-history", "binary", "png", "bad-id", "bad-date", "no-date"],
)
def test_bad_pages_raise_dump_error(tmp_path: Path, content: bytes, message: str) -> None:
    page = tmp_path / "messages.html"
    page.write_bytes(content)
    with pytest.raises(DumpError) as caught:
        read([page])
    assert message in caught.value.message
    assert caught.value.file == str(page)
    assert str(page) in str(caught.value)


def test_invalid_utf8_is_replaced_and_noted(tmp_path: Path) -> None:
    page = write_page(tmp_path / "messages.html", message(1, '<div class="text">caf\x00</div>'))
    page.write_bytes(page.read_bytes().replace(b"caf\x00", b"caf\xe9 \xff"))
    (row,) = read([page])
    assert row["text"] == "caf\ufffd \ufffd"
    assert "invalid UTF-8" in row["extra"]["html_decode"]


def test_huge_single_line_is_refused_as_no_history(tmp_path: Path) -> None:
    page = tmp_path / "messages.html"
    page.write_bytes(b'<div class="history">' + b"x" * 50_000_000 + b"</div>")
    with pytest.raises(DumpError, match="no message history"):
        read([page])


def test_page_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    page = tmp_path / "messages.html"
    with page.open("wb") as handle:  # sparse: takes no disk space
        handle.truncate(html_page.MAX_PAGE_BYTES + 1)
    with pytest.raises(DumpError, match="refused"):
        read([page])


def test_no_pages_is_an_error() -> None:
    with pytest.raises(DumpError, match="no messages"):
        read([])


def test_missing_page_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DumpError, match="cannot read page") as caught:
        read([tmp_path / "messages.html"])
    assert caught.value.file == str(tmp_path / "messages.html")


def test_sent_at_is_utc(seed_dir: Path) -> None:
    batch = next(read_html_export([seed_dir / "messages.html"], SEQUENTIAL))
    first = batch.column("sent_at")[2].as_py()
    assert first == datetime(2022, 8, 31, 9, 1, 45, tzinfo=UTC)
