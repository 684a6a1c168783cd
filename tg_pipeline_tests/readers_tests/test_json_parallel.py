"""A large single-chat export read as pieces on worker processes: the records, batches,
errors and memory of one pass."""

from __future__ import annotations

import gc
import json
import logging
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tg_pipeline.errors import DumpError
from tg_pipeline.readers import json_parallel, json_pass
from tg_pipeline.readers.json_export import _read_serial, read_json_export
from tg_pipeline.readers.json_parallel import read_piece
from tg_pipeline.readers.json_split import plan_pieces
from tg_pipeline.records import ReadOptions

PIECE = 16 * 1024


def _message(rng: random.Random, message_id: int) -> dict[str, Any]:
    unixtime = 1_650_000_000 + message_id * 7
    if rng.random() < 0.03:
        return {"id": message_id, "type": "unsupported"}
    msg: dict[str, Any] = {
        "id": message_id,
        "type": "message" if rng.random() < 0.9 else "service",
        "date": "2022-04-15T08:20:15",
        "date_unixtime": str(unixtime),
        "from": rng.choice(["Anna", "Борис", "Chen 🚀"]),
        "from_id": f"user{rng.randint(1, 50)}",
    }
    roll = rng.random()
    if roll < 0.4:
        text: Any = f"plain {message_id} привет"
        msg["text"] = text
        msg["text_entities"] = [{"type": "plain", "text": text}]
    elif roll < 0.6:
        pieces = [f"see {message_id} ", {"type": "link", "text": "https://x.example"}]
        msg["text"] = pieces
        msg["text_entities"] = [{"type": "plain", "text": pieces[0]}, pieces[1]]
    elif roll < 0.7:
        msg["text"] = f"bell@@X@@ {message_id}"
    else:
        msg["text"] = ""
        msg["text_entities"] = []
        msg["photo"] = f"photos/p{message_id}.jpg"
        msg["width"] = 640
    if rng.random() < 0.2:
        msg["edited_unixtime"] = str(unixtime + 60)
        msg["reactions"] = [{"type": "emoji", "count": 2, "emoji": "👍"}]
    if rng.random() < 0.1:
        msg["reply_to_message_id"] = message_id - 1
    return msg


def write_export(tmp_path: Path, count: int, *, chat_id: int = 1_700_000_042) -> Path:
    """A single-chat export in tdesktop's layout: one space per level, keys in its order."""
    rng = random.Random(count)
    document = {
        "name": "Big chat",
        "type": "private_supergroup",
        "id": chat_id,
        "messages": [_message(rng, 1000 + n) for n in range(count)],
    }
    text = json.dumps(document, ensure_ascii=False, indent=1).encode()
    path = tmp_path / "result.json"
    path.write_bytes(text.replace(b"@@X@@", b"\\x07"))
    return path


def read_all(path: Path, workers: int, batch_size: int = 333) -> list[pa.RecordBatch]:
    return list(read_json_export(path, ReadOptions(batch_size=batch_size, workers=workers)))


@pytest.fixture
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(json_parallel, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(json_parallel, "PIECE_BYTES", PIECE)


@pytest.mark.usefixtures("small_pieces")
def test_pieces_read_exactly_like_one_pass(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_export(tmp_path, 3000)
    plan = plan_pieces(path, PIECE)
    assert plan is not None and len(plan.pieces) > 10

    with caplog.at_level(logging.WARNING, logger="tg_pipeline.readers"):
        # The one streaming pass: workers=1 would read pieces too, on this core.
        serial = list(_read_serial(path, ReadOptions(batch_size=333, workers=1), 0))
    serial_warnings = [r.getMessage() for r in caplog.records]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tg_pipeline.readers"):
        parallel = read_all(path, workers=2)

    assert [b.num_rows for b in parallel] == [b.num_rows for b in serial]
    assert all(p.equals(s) for p, s in zip(parallel, serial, strict=True))
    assert parallel[0].schema.equals(serial[0].schema, check_metadata=True)
    assert sum(b.num_rows for b in parallel) == 3000
    assert len(serial_warnings) == 1 and "repaired" in serial_warnings[0]
    assert [r.getMessage() for r in caplog.records] == serial_warnings


@pytest.mark.usefixtures("small_pieces")
def test_a_bad_piece_gives_the_one_pass_error(tmp_path: Path) -> None:
    path = write_export(tmp_path, 3000)
    data = path.read_bytes()
    broken = data.replace(b'"id": 2500,', b'"id": 2500,,', 1)
    assert broken != data
    path.write_bytes(broken)

    def rows_then_error(workers: int) -> tuple[list[pa.RecordBatch], str]:
        batches: list[pa.RecordBatch] = []
        with pytest.raises(DumpError) as caught:
            for batch in read_json_export(path, ReadOptions(batch_size=100, workers=workers)):
                batches.append(batch)
        return batches, str(caught.value)

    serial, serial_error = rows_then_error(1)
    parallel, parallel_error = rows_then_error(2)
    assert parallel_error == serial_error
    assert "messages[1500]" in serial_error
    # Both yield records of the messages before the bad one, in order, before failing;
    # the pieces read ahead may let the parallel read yield more of them.
    first = pa.Table.from_batches(serial)
    ahead = pa.Table.from_batches(parallel)
    assert 0 < first.num_rows <= ahead.num_rows <= 1500
    assert ahead.slice(0, first.num_rows).equals(first)
    assert ahead.column("message_id").to_pylist() == list(range(1000, 1000 + ahead.num_rows))


def test_a_read_piece_is_freed_without_the_collector(tmp_path: Path) -> None:
    """A worker reads hundreds of pieces between full collections: a reader held by a
    reference cycle would keep each piece's text alive until one runs."""
    path = write_export(tmp_path, 600)
    plan = plan_pieces(path, PIECE)
    assert plan is not None and len(plan.pieces) > 2
    gc.collect()
    gc.disable()
    try:
        rows = 0
        for number, piece in enumerate(plan.pieces):
            result = read_piece(str(path), plan.head, piece, ReadOptions(), number == 0)
            assert result is not None
            rows += sum(part.num_rows for part in result[0])
        left = [o for o in gc.get_objects() if isinstance(o, json_pass.JsonPass)]
    finally:
        gc.enable()
    assert rows == 600
    assert left == []
