"""The orjson fast path (:mod:`tg_pipeline.readers.json_whole`) gives the one-pass reader's
records, record by record, on every fixture, on synthetic exports and on random chats;
and declines, so the ijson pass reads them, the documents whose values it cannot vouch for.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings

from tg_pipeline.errors import DumpError
from tg_pipeline.readers import json_export, json_parallel
from tg_pipeline.readers.json_export import _read_serial, read_json_export
from tg_pipeline.readers.json_parallel import read_piece
from tg_pipeline.readers.json_pass import JsonPass
from tg_pipeline.readers.json_split import plan_pieces
from tg_pipeline.readers.json_whole import parse_whole
from tg_pipeline.records import ReadOptions
from tg_pipeline_tests.conftest import OWN_FIXTURES, shared_fixture
from tg_pipeline_tests.readers_tests.test_property_roundtrip import chats
from tg_pipeline_tests.synthetic import Chat, generate_big_export, write_export

OPTIONS = ReadOptions(batch_size=97, workers=1)
OWN_JSON = sorted(OWN_FIXTURES.rglob("*.json"))
SHARED_JSON_FOLDERS = (
    ("chatparser_seed",),
    ("telegram_samples", "json"),
    ("real_exports", "trantor_channel_json"),
)


def _collect(batches: Iterator[pa.RecordBatch]) -> tuple[list[pa.RecordBatch], str | None]:
    """The batches yielded, and the error that ended them (None when none did)."""
    got: list[pa.RecordBatch] = []
    try:
        for batch in batches:
            got.append(batch)
    except DumpError as exc:
        return got, str(exc)
    return got, None


def _one_pass(path: Path) -> tuple[list[pa.RecordBatch], str | None]:
    return _collect(_read_serial(path, OPTIONS, 0))


def _fast(path: Path) -> tuple[list[pa.RecordBatch], str | None] | None:
    """The fast path over the whole file; None where it declines."""
    root = parse_whole(path.read_bytes())
    if root is None:
        return None
    return _collect(JsonPass(path, OPTIONS, careful=False).batches_of(root))


def _rows(batches: list[pa.RecordBatch]) -> list[dict[str, Any]]:
    return [row for batch in batches for row in batch.to_pylist()]


def assert_same_records(path: Path) -> bool:
    """The fast path's records equal the one pass's, and so do the reader's as it chooses
    its way; True when the fast path took the file."""
    expected = _one_pass(path)
    _assert_alike(path, _collect(read_json_export(path, OPTIONS)), expected)
    fast = _fast(path)
    if fast is None:
        return False
    _assert_alike(path, fast, expected)
    return True


def _assert_alike(
    path: Path,
    result: tuple[list[pa.RecordBatch], str | None],
    one_pass: tuple[list[pa.RecordBatch], str | None],
) -> None:
    got, got_error = result
    expected, expected_error = one_pass
    assert got_error == expected_error, path
    want_rows, got_rows = _rows(expected), _rows(got)
    for index, (want, have) in enumerate(zip(want_rows, got_rows, strict=False)):
        assert have == want, f"{path}: record {index} differs"
    assert len(got_rows) == len(want_rows), path
    assert [b.num_rows for b in got] == [b.num_rows for b in expected], path
    for mine, theirs in zip(got, expected, strict=True):
        assert mine.schema.equals(theirs.schema, check_metadata=True)
        assert mine.equals(theirs)


def test_own_fixtures_read_alike() -> None:
    assert len(OWN_JSON) >= 8
    taken = [path for path in OWN_JSON if assert_same_records(path)]
    # The fixtures are clean exports: the fast path must really read them, not decline.
    assert len(taken) >= len(OWN_JSON) - 1, sorted(set(OWN_JSON) - set(taken))


@pytest.mark.parametrize("folder", SHARED_JSON_FOLDERS, ids="/".join)
def test_shared_fixtures_read_alike(folder: tuple[str, ...]) -> None:
    paths = sorted(shared_fixture(*folder).glob("*.json"))
    assert paths
    taken = [path for path in paths if assert_same_records(path)]
    assert taken, "the fast path declined every file"


def test_a_synthetic_export_reads_alike_whole_and_piece_by_piece(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generate_big_export(tmp_path, 4000)
    path = tmp_path / "json" / "result.json"
    assert assert_same_records(path)
    expected = _one_pass(path)
    # Pieces on this core and on two worker processes, each parsed whole.
    monkeypatch.setattr(json_export, "WHOLE_MAX_BYTES", 0)
    monkeypatch.setattr(json_parallel, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(json_parallel, "PIECE_BYTES", 64 * 1024)
    for workers in (1, 2):
        options = dataclasses.replace(OPTIONS, workers=workers)
        _assert_alike(path, _collect(read_json_export(path, options)), expected)
    plan = plan_pieces(path, 64 * 1024)
    assert plan is not None and len(plan.pieces) > 5
    for number, piece in enumerate(plan.pieces):
        fast = read_piece(str(path), plan.head, piece, OPTIONS, number == 0)
        ijson = read_piece(str(path), plan.head, piece, OPTIONS, number == 0, whole=False)
        assert fast is not None and ijson is not None
        assert _rows(fast[0]) == _rows(ijson[0]), f"piece {number}"
        assert fast[1] == ijson[1] == 0


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(chats())
def test_random_chats_read_alike(drawn: tuple[Chat, int]) -> None:
    chat, per_page = drawn
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_export(chat, folder, per_page=per_page)
        path = folder / "json" / "result.json"
        took = assert_same_records(path)
        # Texts with a backslash before an x go the repairing way; all others are taken.
        assert took or b"\\x" in path.read_bytes()


def _document(messages: str) -> bytes:
    return (
        b'{\n "name": "c",\n "type": "private_group",\n "id": 5,\n "messages": [\n'
        + messages.encode()
        + b"\n ]\n}\n"
    )


def _message(extra: str = "", text: str = '"hi"') -> str:
    return (
        '  {\n   "id": 1,\n   "type": "message",\n   "date": "2023-01-01T10:01:00",\n'
        f'   "date_unixtime": "1672567260",\n   "text": {text}{extra}\n  }}'
    )


@pytest.mark.parametrize(
    ("name", "document"),
    [
        ("integer past int64", _document(_message(',\n   "n": 9223372036854775808'))),
        ("integer past uint64", _document(_message(',\n   "n": 18446744073709551616'))),
        ("-2**63", _document(_message(',\n   "n": -9223372036854775808'))),
        ("float from 2**63", _document(_message(',\n   "n": 1e19'))),
        ("too deep", _document(_message(',\n   "n": ' + "[" * 200 + "]" * 200))),
        ("deeper than orjson", _document(_message(',\n   "n": ' + "[" * 2000 + "]" * 2000))),
        ("x escape", _document(_message(text='"bell \\x07"'))),
        ("lone surrogate", _document(_message(text='"\\ud800"'))),
        ("raw control character", _document(_message(text='"tab\there"'))),
        (
            "invalid UTF-8",
            _document(_message(text='"\xff"').replace("\xff", "?")).replace(b"?", b"\xff"),
        ),
        (
            "webview duplicate key",
            _document(
                '  {\n   "id": 1,\n   "type": "service",\n   "date": "2023-01-01T10:01:00",\n'
                '   "action": "send_webview_data",\n   "text": "Button",\n   "text": ""\n  }'
            ),
        ),
        ("BOM", b"\xef\xbb\xbf" + _document(_message())),
        ("syntax error", _document(_message(",,"))),
    ],
)
def test_what_the_fast_path_cannot_vouch_for_goes_the_ijson_way(
    tmp_path: Path, name: str, document: bytes
) -> None:
    assert parse_whole(document) is None, name
    path = tmp_path / "result.json"
    path.write_bytes(document)
    assert _fast(path) is None


def test_values_both_parsers_accept_come_out_alike(tmp_path: Path) -> None:
    extra = (
        ',\n   "n": [9223372036854775807, -9223372036854775807, -0.0, 0.1, 1.5e-400, 2.5E+3,'
        ' 12345678901234567.0, true, null, {}, []],\n   "dup": 1,\n   "dup": "last",'
        '\n   "s": "\\u0000 \\/ \\ud83d\\ude00 \\uffff \u00e9"'
    )
    document = _document(_message(extra))
    root = parse_whole(document)
    assert root is not None
    assert root == json.loads(document)
    path = tmp_path / "result.json"
    path.write_bytes(document)
    assert assert_same_records(path)
