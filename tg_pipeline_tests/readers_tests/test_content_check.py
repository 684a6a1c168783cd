"""A content file checked as it streams past: UTF-8 validity however it is cut, and the
byte and line an error names."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tg_pipeline.errors import DumpError
from tg_pipeline.readers import Dump, open_dump
from tg_pipeline.readers.content_check import ContentCheck
from tg_pipeline.readers.formats import Format


def detect(path: Path) -> Dump:
    with open_dump(path) as dump:
        return dump


def test_utf8_split_across_chunks_is_fine_and_a_bad_byte_far_in_is_placed(tmp_path: Path) -> None:
    """The check reads in 1 MiB chunks: a character on the boundary must not be an error."""
    head = b'{"messages": [{"text": "'
    pad = b"a" * ((1 << 20) - len(head) - 1)
    good = head + pad + "Ж".encode() + b'"}]}\n'
    assert good[(1 << 20) - 1 : (1 << 20) + 1] == "Ж".encode()
    path = tmp_path / "result.json"
    path.write_bytes(good)
    detect(path)
    bad = head + pad + b"\n\n" + b"\xd0" + b'"}]}\n'
    path.write_bytes(bad)
    with pytest.raises(DumpError, match="invalid UTF-8") as raised:
        detect(path)
    assert raised.value.position == f"byte {len(head) + len(pad) + 2} (line 3)"
    cut = head + "Ж".encode()[:1]
    path.write_bytes(cut)
    with pytest.raises(DumpError, match="ends inside a character"):
        detect(path)


_PAGE_START = b'<div class="history">'


def _first_utf8_error(data: bytes) -> int | None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start
    return None


@settings(max_examples=300, deadline=None)
@given(
    body=st.one_of(
        st.text(max_size=200).map(lambda t: t.encode("utf-8")),
        st.binary(max_size=200),
        st.lists(
            st.sampled_from([b"a", b"\n", "Ж".encode(), "€".encode(), "🎉".encode(), b"\xff",
                             b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf", b"\x80"]),
            max_size=60,
        ).map(b"".join),
    ),
    cuts=st.lists(st.integers(min_value=1, max_value=7), max_size=80),
)  # fmt: skip
def test_utf8_check_agrees_with_python_for_any_chunking(body: bytes, cuts: list[int]) -> None:
    """However the stream is cut, the check accepts exactly what Python decodes, and places
    the first bad byte where Python does, whether it counts lines as it goes (a zip
    member) or only once an error needs them (a file it can read again)."""
    data = _PAGE_START + body.replace(b"\0", b"")
    at = 0
    pieces = []
    for size in cuts:
        pieces.append(data[at : at + size])
        at += size
    pieces.append(data[at:])
    expected = _first_utf8_error(data)
    for reread in (None, lambda: iter(pieces)):
        with ContentCheck(Format.HTML, "page", reread=reread) as check:
            try:
                for piece in pieces:
                    check.feed(piece)
                check.finish()
            except DumpError as err:
                assert expected is not None, err
                assert err.position is not None
                assert err.position.startswith(f"byte {expected} ")
                line = data.count(b"\n", 0, expected) + 1
                assert err.position.endswith(f"(line {line})") or err.position.endswith(
                    "(end of file)"
                )
            else:
                assert expected is None
                assert check.digest.size == len(data)
