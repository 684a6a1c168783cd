"""Bad dumps are refused whole, with the file and the place, without a hang or a memory spike.

Each case builds its input in a temporary folder. The same cases run through the
``tg-pipeline parse`` subprocess in ``cli_tests/test_parse.py``, where peak memory is
measured; here they run in-process through ``open_dump`` and ``read_dump``.
"""

from __future__ import annotations

import random
import re
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tg_pipeline.errors import DumpError
from tg_pipeline.readers import open_dump, read_dump
from tg_pipeline_tests.conftest import OWN_FIXTURES

CHANNEL_JSON = OWN_FIXTURES / "channel" / "json" / "result.json"
CHANNEL_HTML = OWN_FIXTURES / "channel" / "html"

MIB = 1 << 20
LONG_LINE_BYTES = 50 * MIB
BOMB_BYTES = 1 << 30

S_IFLNK = 0o120000
UNIX = 3


# --- raw zip writing: headers exactly as a hostile tool would write them ----------------------


@dataclass
class RawMember:
    """One zip member written byte for byte, so its header can say anything."""

    name: str
    data: bytes
    method: int = 0
    crc: int | None = None
    file_size: int | None = None
    flags: int = 0
    external_attr: int = 0o100644 << 16
    create_system: int = UNIX
    extra: bytes = field(default=b"")


def write_raw_zip(path: Path, members: list[RawMember]) -> Path:
    """A zip archive whose local and central headers carry exactly the given fields."""
    out = bytearray()
    central = bytearray()
    for m in members:
        name = m.name.encode("utf-8")
        flags = m.flags | (0x800 if not m.name.isascii() else 0)
        crc = zlib.crc32(m.data) if m.crc is None else m.crc
        size = len(m.data) if m.file_size is None else m.file_size
        offset = len(out)
        out += struct.pack(
            "<4s5H3L2H", b"PK\x03\x04", 20, flags, m.method, 0, 0x21, crc, len(m.data), size,
            len(name), 0,
        )  # fmt: skip
        out += name + m.data
        central += struct.pack(
            "<4s6H3L5H2L", b"PK\x01\x02", (m.create_system << 8) | 20, 20, flags, m.method, 0,
            0x21, crc, len(m.data), size, len(name), 0, 0, 0, 0, m.external_attr, offset,
        )  # fmt: skip
        central += name
    end = struct.pack(
        "<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central), len(out), 0
    )
    path.write_bytes(bytes(out + central + end))
    return path


def deflate(data: bytes) -> bytes:
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    return comp.compress(data) + comp.flush()


def write_zero_bomb(path: Path, size: int = BOMB_BYTES, name: str = "result.json") -> Path:
    """``size`` zero bytes deflated into about a thousandth of that, in well under a second.

    Zeros deflate to the same bytes after every full flush, so one compressed MiB repeated
    is a valid deflate stream of many MiB. The CRC is the real one: this is a true bomb.
    """
    zeros = bytes(MIB)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = comp.compress(zeros) + comp.flush(zlib.Z_FULL_FLUSH)
    assert comp.compress(zeros) + comp.flush(zlib.Z_FULL_FLUSH) == segment
    tail = comp.flush()
    crc = 0
    for _ in range(size // MIB):
        crc = zlib.crc32(zeros, crc)
    data = segment * (size // MIB) + tail
    return write_raw_zip(path, [RawMember(name, data, method=8, crc=crc, file_size=size)])


# --- the cases ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BadInput:
    name: str
    build: Callable[[Path], Path]
    #: A piece of the file name the error must name.
    names: str
    #: A regular expression the error message must match; None leaves the wording to a reader.
    says: str | None = None
    #: Whether the error must carry a position (not for missing paths and empty folders).
    positioned: bool = True
    #: Large inputs: the CLI test measures the child's peak memory on these.
    large: bool = False


def _folder(root: Path, name: str = "export") -> Path:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _json_file(root: Path, data: bytes) -> Path:
    path = _folder(root) / "result.json"
    path.write_bytes(data)
    return path


def _html_file(root: Path, data: bytes) -> Path:
    path = _folder(root) / "messages.html"
    path.write_bytes(data)
    return path


def truncated_json(root: Path) -> Path:
    data = CHANNEL_JSON.read_bytes()
    _json_file(root, data[: int(len(data) * 0.6)])
    return root / "export"


def json_not_telegram(root: Path) -> Path:
    return _json_file(root, b'{"name": "left-pad", "version": "1.3.0", "dependencies": {}}\n')


def json_array(root: Path) -> Path:
    return _json_file(root, b'[{"id": 1, "text": "hello"}]\n')


def json_not_telegram_deep(root: Path) -> Path:
    """Passes the first-bytes sniff ("name" and "type"); the JSON reader must refuse it."""
    return _json_file(root, b'{"name": "build", "type": "module", "scripts": {"x": "y"}}\n')


def html_without_history(root: Path) -> Path:
    page = b"<!DOCTYPE html>\n<html><body><div class='page_wrap'><p>Hello</p></div></body></html>\n"
    return _html_file(root, page)


def _garbage(size: int = 256 * 1024) -> bytes:
    data = bytearray(random.Random(1729).randbytes(size))
    data[0] = 0x89
    return bytes(data)


def garbage_json(root: Path) -> Path:
    return _json_file(root, _garbage())


def garbage_html(root: Path) -> Path:
    return _html_file(root, _garbage())


def garbage_zip(root: Path) -> Path:
    path = root / "data.zip"
    path.write_bytes(_garbage())
    return path


#: Byte offset of the first invalid byte in the invalid-UTF-8 cases.
def invalid_utf8_offset(data: bytes, marker: bytes) -> int:
    return data.index(marker) + 2


def _with_bad_byte(data: bytes, marker: bytes) -> bytes:
    at = invalid_utf8_offset(data, marker)
    return data[:at] + b"\xff" + data[at:]


def invalid_utf8_json(root: Path) -> Path:
    return _json_file(root, _with_bad_byte(CHANNEL_JSON.read_bytes(), b"Welcome to the channel"))


def invalid_utf8_html(root: Path) -> Path:
    data = (CHANNEL_HTML / "messages.html").read_bytes()
    marker = re.search(rb'<div class="text">\s*\w', data)
    assert marker is not None
    return _html_file(root, _with_bad_byte(data, marker.group(0)))


def _long_line(path: Path, head: bytes, filler: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    block = filler * MIB
    with path.open("wb") as fh:
        fh.write(head)
        for _ in range(LONG_LINE_BYTES // MIB):
            fh.write(block)
    return path


def long_line_json(root: Path) -> Path:
    """50 MB on one line: a valid start, then one endless string that never closes."""
    head = (
        b'{"name":"Big","type":"personal_chat","id":1,"messages":[{"id":1,"type":"message",'
        b'"date":"2023-01-01T00:00:00","date_unixtime":"1672531200","from":"A",'
        b'"from_id":"user1","text":"'
    )
    return _long_line(_folder(root) / "result.json", head)


def long_line_html(root: Path) -> Path:
    """50 MB on one line inside a message history, in a message with no date."""
    head = (
        b'<html><body><div class="page_wrap"><div class="history">'
        b'<div class="message default clearfix" id="message1"><div class="body">'
        b'<div class="from_name">A</div><div class="text">'
    )
    return _long_line(_folder(root) / "messages.html", head)


def long_line_text_html(root: Path) -> Path:
    """50 MB on one line of plain text named like a page."""
    return _long_line(_folder(root) / "messages.html", b"", filler=b"y")


def zip_bomb(root: Path) -> Path:
    return write_zero_bomb(root / "bomb.zip")


def zip_traversal(root: Path) -> Path:
    data = CHANNEL_JSON.read_bytes()
    return write_raw_zip(
        root / "traversal.zip",
        [RawMember("result.json", data), RawMember("../../escaped.json", b"{}")],
    )


def zip_absolute(root: Path) -> Path:
    return write_raw_zip(
        root / "absolute.zip", [RawMember("/tmp/tg_pipeline_absolute/result.json", b"{}")]
    )


def zip_symlink(root: Path) -> Path:
    return write_raw_zip(
        root / "symlink.zip",
        [RawMember("result.json", b"/etc/passwd", external_attr=(S_IFLNK | 0o777) << 16)],
    )


def zip_encrypted(root: Path) -> Path:
    return write_raw_zip(root / "encrypted.zip", [RawMember("result.json", b"\0" * 64, flags=1)])


def empty_folder(root: Path) -> Path:
    return _folder(root, "empty")


def nonexistent(root: Path) -> Path:
    return root / "no-such-export"


def malformed_among_good_json(root: Path) -> Path:
    """One message of many has a time that is no time; the others are fine."""
    text = CHANNEL_JSON.read_text(encoding="utf-8")
    stamps = list(re.finditer(r'"date_unixtime": "(\d+)"', text))
    victim = stamps[len(stamps) // 2]
    bad = text[: victim.start(1)] + "soon" + text[victim.end(1) :]
    return _json_file(root, bad.encode())


def malformed_among_good_html(root: Path) -> Path:
    """Three good pages, except one date title on the second that is no date."""
    folder = _folder(root)
    for page in sorted(CHANNEL_HTML.glob("messages*.html")):
        data = page.read_text(encoding="utf-8")
        if page.name == "messages2.html":
            titles = list(re.finditer(r'title="(\d\d\.\d\d\.\d{4}) ', data))
            victim = titles[len(titles) // 2]
            data = data[: victim.start(1)] + "99.99.2023" + data[victim.end(1) :]
        (folder / page.name).write_text(data, encoding="utf-8")
    return folder


CASES = [
    BadInput("truncated_json", truncated_json, "result.json"),
    BadInput("json_not_telegram", json_not_telegram, "result.json", r"none of the keys"),
    BadInput("json_array", json_array, "result.json", r"starts with '\["),
    BadInput("json_not_telegram_deep", json_not_telegram_deep, "result.json"),
    BadInput("html_without_history", html_without_history, "messages.html", "no message history"),
    BadInput("garbage_json", garbage_json, "result.json", "binary data"),
    BadInput("garbage_html", garbage_html, "messages.html", "binary data"),
    BadInput("garbage_zip", garbage_zip, "data.zip", "not a valid zip archive"),
    BadInput("invalid_utf8_json", invalid_utf8_json, "result.json", "invalid UTF-8"),
    BadInput("invalid_utf8_html", invalid_utf8_html, "messages.html", "invalid UTF-8"),
    BadInput("long_line_json", long_line_json, "result.json", large=True),
    BadInput("long_line_html", long_line_html, "messages.html", large=True),
    BadInput(
        "long_line_text_html", long_line_text_html, "messages.html", "starts with", large=True
    ),
    BadInput("zip_bomb", zip_bomb, "bomb.zip", "zip bomb", large=True),
    BadInput("zip_traversal", zip_traversal, "traversal.zip", r"leaves the archive"),
    BadInput("zip_absolute", zip_absolute, "absolute.zip", "absolute path"),
    BadInput("zip_symlink", zip_symlink, "symlink.zip", "symbolic link"),
    BadInput("zip_encrypted", zip_encrypted, "encrypted.zip", "encrypted"),
    BadInput("empty_folder", empty_folder, "empty", "empty folder", positioned=False),
    BadInput("nonexistent", nonexistent, "no-such-export", "no such file", positioned=False),
    BadInput("malformed_among_good_json", malformed_among_good_json, "result.json"),
    BadInput("malformed_among_good_html", malformed_among_good_html, "messages2.html"),
]


def read_all(path: Path) -> int:
    """Open and read a dump to the end, as an ingest would; the number of records."""
    rows = 0
    with open_dump(path) as dump:
        for batch in read_dump(dump):
            rows += batch.num_rows
    return rows


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_refused_naming_file_and_position(case: BadInput, tmp_path: Path) -> None:
    path = case.build(tmp_path)
    with pytest.raises(DumpError) as raised:
        read_all(path)
    err = raised.value
    assert err.file is not None and case.names in err.file, str(err)
    assert "tg_pipeline-zip-" not in str(err), "errors name the zip, never its temp folder"
    if case.positioned:
        assert err.position, f"no position in: {err}"
    if case.says is not None:
        assert re.search(case.says, err.message), str(err)


def test_invalid_utf8_is_placed_at_its_byte_and_line(tmp_path: Path) -> None:
    path = invalid_utf8_json(tmp_path)
    data = path.read_bytes()
    offset = data.index(b"\xff")
    line = data.count(b"\n", 0, offset) + 1
    with pytest.raises(DumpError) as raised:
        read_all(path)
    assert raised.value.position == f"byte {offset} (line {line})"


def test_a_clean_copy_of_each_damaged_export_reads(tmp_path: Path) -> None:
    """The damaged cases start from exports that read: the damage is what gets refused."""
    assert read_all(CHANNEL_JSON) > 5
    assert read_all(CHANNEL_HTML) > 5


def test_bomb_is_a_real_bomb(tmp_path: Path) -> None:
    """The bomb really expands to 1 GiB of zeros (read back a little), yet is about 1 MiB."""
    import zipfile

    path = zip_bomb(tmp_path)
    assert path.stat().st_size < 2 * MIB
    with zipfile.ZipFile(path) as archive:
        (info,) = archive.infolist()
        assert info.file_size == BOMB_BYTES
        with archive.open(info) as member:
            assert member.read(4 * MIB) == bytes(4 * MIB)
