"""The synthetic exports are written the way Telegram Desktop writes them.

Checked against real files where real files exist (the ChatParser seed JSON, a real 2022
HTML page), against tdesktop's rules where they are easy to get wrong (joins, page
boundaries, reply links, the trailing empty text piece), and against the committed
fixtures and sample, which must still be what the definitions produce.
"""

from __future__ import annotations

import filecmp
import html
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from tg_pipeline.sample_export import SAMPLE_DIR
from tg_pipeline_tests.conftest import shared_fixture
from tg_pipeline_tests.fixtures.chats import FIXTURES_DIR, build
from tg_pipeline_tests.readers_tests.format_pairs import (
    chat_differences,
    read_html_records,
    read_json_records,
)
from tg_pipeline_tests.synthetic import (
    LEGACY,
    MODERN,
    V2022,
    Action,
    BigChat,
    Chat,
    Message,
    Photo,
    Reaction,
    channel,
    ent,
    generate_big_export,
    plain,
    render_json,
    user,
    write_export,
    write_html_pages,
)
from tg_pipeline_tests.synthetic.sample import SAMPLE_PER_PAGE, sample_chat


def _same_tree(left: Path, right: Path) -> list[str]:
    different = []
    left_files = sorted(p.relative_to(left) for p in left.rglob("*") if p.is_file())
    right_files = sorted(p.relative_to(right) for p in right.rglob("*") if p.is_file())
    if left_files != right_files:
        return [f"files differ: {left_files} vs {right_files}"]
    for name in left_files:
        if not filecmp.cmp(left / name, right / name, shallow=False):
            different.append(str(name))
    return different


def test_committed_fixtures_match_their_definitions(tmp_path: Path) -> None:
    build(tmp_path)
    committed = tmp_path / "committed"
    committed.mkdir()
    produced = [p for p in tmp_path.iterdir() if p.is_dir() and p.name != "committed"]
    for folder in produced:
        assert not _same_tree(folder, FIXTURES_DIR / folder.name), folder.name


def test_committed_sample_matches_its_definition(tmp_path: Path) -> None:
    write_export(sample_chat(), tmp_path, per_page=SAMPLE_PER_PAGE)
    for sub in ("json", "html"):
        assert not _same_tree(tmp_path / sub, SAMPLE_DIR / sub), sub


def test_sample_has_both_formats_and_paging() -> None:
    messages = list(sample_chat().messages)
    assert 40 <= len(messages) <= 80
    data = json.loads((SAMPLE_DIR / "json" / "result.json").read_text(encoding="utf-8"))
    assert [m["id"] for m in data["messages"]] == [m.id for m in messages]
    pages = sorted(p.name for p in (SAMPLE_DIR / "html").glob("messages*.html"))
    assert pages == ["messages.html", "messages2.html"]
    senders = {m.sender.peer_id: set() for m in messages if m.sender is not None}
    for message in messages:
        if message.sender is not None:
            senders[message.sender.peer_id].add(message.sender.name)
    assert any(len(names) == 2 for names in senders.values()), "one user is renamed"


# --------------------------------------------------------------------------- real files


def _seed_chat() -> Chat:
    """The ChatParser seed chat as the model holds it (ids and names as in its JSON)."""
    actor = user(301_222_647, "user")
    u1 = user(496_709_216, "user1")
    u2 = user(272_557_771, "username2")
    u3 = user(204_776_088, "username3")
    u4 = user(232_216_121, "username4")
    u5 = user(968_649_833, "username5")
    u7 = user(276_461_447, "username7")
    u8 = user(272_557_771, "username8")
    u3b = user(232_216_121, "username3")
    u4b = user(204_776_088, "username4")
    reactor = user(289_217_002, "username11")
    base = 1_661_936_496
    messages = [
        Message(182649, base, actor, action=Action("invite_members", members=(user(1, "user"),))),
        Message(182650, base + 6, actor, action=Action("remove_members", members=(user(2, "Я"),))),
        Message(182651, base + 9, u1, (plain("message1"),)),
        Message(182652, base + 9, u2, (plain("message2"),)),
        Message(182653, base + 16, u2, (plain("message3"),)),
        Message(182654, base + 21, u3, (plain("message4"),), reply_to=182652),
        Message(182655, base + 25, u4, (plain("message5"),)),
        Message(
            182656,
            base + 27,
            u5,
            (plain("message6"),),
            edited=1_661_938_682,
            media=Photo(None, 208, 87, 3_584),
            reactions=(Reaction("👍", 1, ((reactor, 1_661_938_682),)),),
        ),
        Message(182657, base + 29, u4b, (plain("message7"),)),
        Message(182658, base + 33, u7, (plain("message8"),), reply_to=182649),
        Message(182659, base + 39, u8, (ent("mention", "username4"), plain(" message9"))),
        Message(182660, base + 39, u3b, (plain("message10"),)),
    ]
    return Chat("chat name", "private_supergroup", 1_124_496_986, messages, 3 * 3600, flavor=V2022)


def test_json_reproduces_the_seed_export_byte_for_byte(seed_dir: Path) -> None:
    real = (seed_dir / "result.json").read_text(encoding="utf-8")
    assert render_json(_seed_chat()) == real


def _block(page: str, message_id: int) -> str:
    start = page.index(f'id="message{message_id}"')
    start = page.rindex("\n", 0, start) + 1
    ends = [page.find(marker, start) for marker in ('\n     <div class="message', "\n    </div>")]
    return page[start : min(end for end in ends if end >= 0)]


def _real_message_parts(block: str) -> tuple:
    """The text pieces of one real CVE-feed message, read back from its markup."""
    text = block.split('<div class="text">\n', 1)[1].split("\n       </div>", 1)[0]
    pieces = []
    for match in re.finditer(
        r'<strong>(.*?)</strong>|<code>(.*?)</code>|<a href="(.*?)">(.*?)</a>|<em>(.*?)</em>'
        r"|([^<]+|<br>)",
        text,
    ):
        strong, code, href, link, em, rest = match.groups()
        if strong is not None:
            pieces.append(ent("bold", html.unescape(strong)))
        elif code is not None:
            pieces.append(ent("code", html.unescape(code)))
        elif href is not None:
            pieces.append(ent("text_link", html.unescape(link), html.unescape(href)))
        elif em is not None:
            pieces.append(ent("italic", html.unescape(em)))
        else:
            piece = "\n" if rest == "<br>" else html.unescape(rest)
            if pieces and pieces[-1].type == "plain":
                pieces[-1] = plain(pieces[-1].text + piece)
            else:
                pieces.append(plain(piece))
    return tuple(pieces)


def test_html_reproduces_a_real_page_layout(samples_dir: Path, tmp_path: Path) -> None:
    """A real 2022 channel page: preamble, a full message and a joined one, byte for byte."""
    real = (samples_dir / "html" / "devcomputaria_cybersecurity-news__messages40.html").read_text(
        encoding="utf-8"
    )
    name = "🛡 Cybersecurity & Privacy news 🛡"
    feed = channel(7 * 150_000_000 + 5, name)
    first, joined = _block(real, 39098), _block(real, 39099)
    messages = [
        Message(39098, 1_647_441_919, feed, _real_message_parts(first)),
        Message(39099, 1_647_442_533, feed, _real_message_parts(joined)),
    ]
    chat = Chat(name, "public_channel", feed.bare_id, messages, 0, flavor=LEGACY)
    write_html_pages(chat, tmp_path)
    ours = (tmp_path / "messages.html").read_text(encoding="utf-8")
    history = '    <div class="history">\n'
    assert ours[: ours.index(history)] == real[: real.index(history)]
    assert _block(ours, 39098) == first
    assert _block(ours, 39099) == joined
    assert ours.endswith("\n\n    </div>\n\n   </div>\n\n  </div>\n\n </body>\n\n</html>\n")
    assert real.endswith("\n\n    </div>\n\n   </div>\n\n  </div>\n\n </body>\n\n</html>\n")


# --------------------------------------------------------------------------- tdesktop rules


ANN = user(10, "Ann", "Lee")
BEN = user(11, "Ben")


def _page_entries(folder: Path) -> list[tuple[str, str, str]]:
    """(page, id, class) of every history entry, in order."""
    entries = []
    for page in sorted(folder.glob("messages*.html"), key=lambda p: (len(p.name), p.name)):
        for match in re.finditer(
            r'<div class="(message[^"]*)" id="message(-?\d+)"', page.read_text()
        ):
            entries.append((page.name, match.group(2), match.group(1)))
    return entries


def test_joined_runs_follow_tdesktops_rules(tmp_path: Path) -> None:
    start = 1_700_000_000
    messages = [
        Message(1, start, ANN, (plain("a"),)),
        Message(2, start + 900, ANN, (plain("900 s later: joined"),)),
        Message(3, start + 1801, ANN, (plain("901 s later: new header"),)),
        Message(4, start + 1802, BEN, (plain("other sender"),)),
        Message(5, start + 1803, BEN, (plain("via a bot"),), via_bot=user(12, "B", "", "bot")),
        Message(6, start + 1804, BEN, (plain("fwd"),), forwarded_from=ANN, forwarded_date=5),
        Message(
            7, start + 1805, BEN, (plain("fwd 1 s later"),), forwarded_from=ANN, forwarded_date=6
        ),
        Message(
            8, start + 1807, BEN, (plain("fwd 2 s later"),), forwarded_from=ANN, forwarded_date=7
        ),
        Message(9, start + 1808, BEN, action=Action("invite_members", members=(ANN,))),
        Message(10, start + 1809, BEN, (plain("after a service entry"),)),
        Message(11, start + 1810, BEN, (plain("last on page"),)),
        Message(12, start + 1811, BEN, (plain("first on the next page"),)),
        Message(13, start + 1812, BEN, (plain("joined again"),)),
    ]
    write_html_pages(Chat("c", "private_group", 1, messages, 0), tmp_path, per_page=11)
    classes = {id_: css for _, id_, css in _page_entries(tmp_path)}
    joined = {int(i) for i, css in classes.items() if css.endswith("joined")}
    assert joined == {2, 7, 11, 13}
    page = (tmp_path / "messages.html").read_text()
    fwd7 = _block(page, 7)
    assert '<div class="forwarded body">' in fwd7 and "from_name" not in fwd7


def test_date_separators_continue_across_pages(tmp_path: Path) -> None:
    day = 86_400
    messages = [
        Message(i, 1_700_000_000 + (i // 2) * day, ANN, (plain(str(i)),)) for i in range(1, 8)
    ]
    write_html_pages(Chat("c", "private_group", 1, messages, 0), tmp_path, per_page=3)
    entries = _page_entries(tmp_path)
    separators = [(page, id_) for page, id_, css in entries if css == "message service"]
    assert [page for page, _ in separators] == [
        "messages.html",
        "messages.html",
        "messages2.html",
        "messages2.html",
        "messages3.html",
    ]
    assert [int(id_) for _, id_ in separators] == [-1, -2, -3, -4, -5]
    assert [p.name for p in sorted(tmp_path.iterdir())] == [
        "messages.html",
        "messages2.html",
        "messages3.html",
    ]
    assert 'href="messages2.html">\nNext messages' in (tmp_path / "messages.html").read_text()
    second = (tmp_path / "messages2.html").read_text()
    assert 'href="messages.html">\nPrevious messages' in second


def test_replies_into_earlier_pages_link_the_page_without_onclick(tmp_path: Path) -> None:
    messages = [Message(i, 1_700_000_000 + i, ANN, (plain(str(i)),)) for i in range(1, 9)]
    messages[5].reply_to = 5  # page 2 -> page 2
    messages[6].reply_to = 2  # page 3 -> page 1
    messages[7].reply_to = 4  # page 3 -> page 2
    write_html_pages(Chat("c", "private_group", 1, messages, 0), tmp_path, per_page=3)
    second = (tmp_path / "messages2.html").read_text()
    third = (tmp_path / "messages3.html").read_text()
    assert '<a href="#go_to_message5" onclick="return GoToMessage(5)">this message</a>' in second
    assert '<a href="messages.html#go_to_message2">this message</a>' in third
    assert '<a href="messages2.html#go_to_message4">this message</a>' in third


def test_html_dates_and_names_follow_tdesktop(tmp_path: Path) -> None:
    messages = [
        Message(1, 1_661_936_505, BEN, (plain("x"),)),
        Message(2, 1_661_936_505 + 3_600, user(13, "", ""), (plain("deleted"),)),
    ]
    chat = Chat("Group", "private_group", 1, messages, -(4 * 3600 + 30 * 60))
    write_html_pages(chat, tmp_path)
    page = (tmp_path / "messages.html").read_text()
    assert 'title="31.08.2022 04:31:45 UTC-04:30">\n04:31\n' in page
    assert '<div class="from_name">\nBen \n' in page
    assert '<div class="from_name">\nDeleted Account\n' in page
    assert "\n31 August 2022\n" in page
    write_html_pages(replace(chat, flavor=LEGACY), tmp_path / "legacy")
    assert 'title="31.08.2022 04:31:45">' in (tmp_path / "legacy" / "messages.html").read_text()


@pytest.mark.parametrize(
    ("parts", "text"),
    [
        ((plain("hello "), ent("bold", "world")), ["hello ", "bold:world"]),
        ((plain("привет "), ent("bold", "мир")), ["привет ", "bold:мир", ""]),
        ((ent("bold", "мир"), plain(" и всё")), ["bold:мир", " и всё"]),
        ((plain("только текст"),), "только текст"),
    ],
)
def test_json_text_pieces_follow_tdesktop(parts: tuple, text: object) -> None:
    message = Message(1, 1_700_000_000, ANN, parts)
    data = json.loads(render_json(Chat("c", "private_group", 1, [message], 0)))
    value = data["messages"][0]["text"]
    if isinstance(value, list):
        value = [p if isinstance(p, str) else f"{p['type']}:{p['text']}" for p in value]
    assert value == text
    entities = data["messages"][0]["text_entities"]
    assert "".join(piece["text"] for piece in entities) == message.plain_text


def test_flavors_change_what_the_json_holds() -> None:
    message = Message(1, 1_700_000_000, ANN, (plain("x"),), edited=1_700_000_100)
    modern = json.loads(render_json(Chat("c", "private_group", 1, [message], 0, flavor=MODERN)))
    legacy = json.loads(render_json(Chat("c", "private_group", 1, [message], 0, flavor=LEGACY)))
    assert modern["messages"][0]["date_unixtime"] == "1700000000"
    assert modern["messages"][0]["edited_unixtime"] == "1700000100"
    assert "date_unixtime" not in legacy["messages"][0]
    assert "text_entities" not in legacy["messages"][0]
    assert legacy["messages"][0]["from_id"] == "user10"


def test_big_export_is_deterministic_and_well_formed(tmp_path: Path) -> None:
    first = generate_big_export(tmp_path / "a", 2_500)
    second = generate_big_export(tmp_path / "b", 2_500)
    assert not _same_tree(tmp_path / "a", tmp_path / "b")
    data = json.loads(first["json"].read_text(encoding="utf-8"))
    assert len(data["messages"]) == 2_500
    kinds = {m["type"] for m in data["messages"]}
    assert kinds == {"message", "service"}
    assert any("reactions" in m for m in data["messages"])
    assert any("reply_to_message_id" in m for m in data["messages"])
    assert any(isinstance(m["text"], list) for m in data["messages"])
    pages = sorted(p.name for p in second["html"].glob("messages*.html"))
    assert pages == ["messages.html", "messages2.html", "messages3.html"]
    ids = [m.id for m in BigChat(2_500).messages()]
    assert ids == sorted(set(ids))
    json_rows = read_json_records(first["json"])
    assert not chat_differences(json_rows, read_html_records(first["html"]))


def test_real_seed_fixture_is_found() -> None:
    assert shared_fixture("chatparser_seed", "result.json").exists()
