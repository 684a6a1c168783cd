"""Where a single-chat export may be cut into pieces for parallel reading, and where not."""

from __future__ import annotations

import json
from pathlib import Path

from tg_pipeline.readers.json_split import plan_pieces
from tg_pipeline_tests.readers_tests.test_json_parallel import PIECE, write_export


def test_layouts_that_are_not_cut(tmp_path: Path) -> None:
    path = write_export(tmp_path, 1500)
    assert plan_pieces(path, PIECE) is not None
    assert plan_pieces(path, path.stat().st_size) is None

    old_id = write_export(tmp_path, 1500, chat_id=(2 << 32) + 5)
    assert plan_pieces(old_id, PIECE) is None

    document = json.loads(path.read_bytes().replace(b"\\x07", b""))
    path.write_bytes(json.dumps(document).encode())
    assert plan_pieces(path, PIECE) is None

    path.write_bytes(json.dumps({"chats": {"list": [document]}}, indent=1).encode())
    assert plan_pieces(path, PIECE) is None
