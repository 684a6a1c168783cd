"""The inbox sensor's cursor: typed entries, and the serialized form of earlier versions."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tg_pipeline.defs.telegram.inbox_cursor import InboxEntry, dump_cursor, load_cursor
from tg_pipeline.defs.telegram.sensors import plan_tick
from tg_pipeline.ingest import DataPaths

FINGERPRINT = "ab" * 32
#: A cursor exactly as the sensor wrote it before its entries were typed.
OLD_CURSOR = (
    '{"v":2,"entries":{"a.json":[10,1700000000000000000,1],'
    f'"b":[2048,1700000000000000001,3,"{FINGERPRINT}"]}}}}'
)


def test_an_old_cursor_loads_and_writes_back_unchanged() -> None:
    entries = load_cursor(OLD_CURSOR)
    assert entries == {
        "a.json": InboxEntry(10, 1_700_000_000_000_000_000, 1),
        "b": InboxEntry(2048, 1_700_000_000_000_000_001, 3, FINGERPRINT),
    }
    assert not entries["a.json"].requested and entries["b"].requested
    assert dump_cursor(entries) == OLD_CURSOR


def test_no_cursor_another_version_or_garbage_start_empty() -> None:
    assert load_cursor(None) == {}
    assert load_cursor("") == {}
    assert load_cursor("not json") == {}
    assert load_cursor(json.dumps({"v": 1, "entries": {"a": [1, 2, 3]}})) == {}
    assert load_cursor(json.dumps({"v": 2, "entries": []})) == {}
    assert load_cursor(json.dumps({"v": 2, "entries": {"a": [1, 2], "b": "x"}})) == {}


def test_an_entry_requested_under_the_old_cursor_is_not_requested_again(tmp_path: Path) -> None:
    paths = DataPaths.under(tmp_path)
    paths.inbox.mkdir(parents=True)
    entry = paths.inbox / "result.json"
    entry.write_text("{}", encoding="utf-8")
    st = os.stat(entry)
    old = json.dumps(
        {"v": 2, "entries": {"result.json": [st.st_size, st.st_mtime_ns, 1, FINGERPRINT]}},
        separators=(",", ":"),
    )

    plan = plan_tick(paths, load_cursor(old), known_dumps=list, settle_seconds=0.0)

    assert plan.requests == [] and plan.settling == 0
    assert dump_cursor(plan.entries) == old
