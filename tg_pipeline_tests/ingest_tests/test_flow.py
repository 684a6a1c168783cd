"""Ingesting staged dumps and inbox entries one after another, without Dagster."""

from __future__ import annotations

from pathlib import Path

from tg_pipeline.errors import DumpError
from tg_pipeline.ingest import (
    RunContext,
    inbox_entries,
    ingest_paths,
)
from tg_pipeline.records import ReadOptions
from tg_pipeline.warehouse import Warehouse
from tg_pipeline_tests.dagster_harness import drop


def test_ingest_paths_loads_good_dumps_and_quarantines_bad_ones(paths, seed_dir) -> None:
    good = drop(seed_dir / "result.json", paths.inbox, "a_chat.json")
    html = drop(seed_dir / "messages.html", paths.inbox, "b_chat.html")
    bad = paths.inbox / "c_broken.json"
    text = (seed_dir / "result.json").read_text(encoding="utf-8")
    bad.write_text(text[: len(text) // 2], encoding="utf-8")
    events: list[dict] = []

    with Warehouse.open(paths.warehouse) as wh:
        outcome = ingest_paths(
            inbox_entries(paths.inbox),
            wh,
            paths,
            ReadOptions(),
            run=RunContext(run_id="r1", job="test", emit=events.extend),
        )
        assert wh.con.sql("SELECT count(*) FROM messages").fetchall()[0][0] == 12

    assert [s.dump_id.split("-")[0] for s in outcome.staged] == ["a_chat.json", "b_chat.html"]
    assert [src.name for src, _ in outcome.failures] == ["c_broken.json"]
    assert isinstance(outcome.failures[0][1], DumpError)
    assert inbox_entries(paths.inbox) == []
    assert {p.name for p in paths.processed.iterdir()} == {good.name, html.name}
    report = (paths.quarantine / "c_broken.json.error.txt").read_text(encoding="utf-8")
    assert "c_broken.json" in report
    assert str(outcome.failures[0][1].message) in report
    types = [e["event_type"] for e in events]
    assert types.count("dump_ingested") == 2
    assert types.count("dump_quarantined") == 1


def test_content_dropped_again_is_a_duplicate(paths, seed_dir) -> None:
    drop(seed_dir / "result.json", paths.inbox)
    with Warehouse.open(paths.warehouse) as wh:
        first = ingest_paths(inbox_entries(paths.inbox), wh, paths, ReadOptions())
        known = [s.dump_id for s in first.staged]
        again = drop(seed_dir / "result.json", paths.inbox, "renamed.json")
        second = ingest_paths(
            inbox_entries(paths.inbox), wh, paths, ReadOptions(), known_dumps=known
        )
    assert second.ingested == []
    assert [(src.name, dump_id) for src, dump_id in second.duplicates] == [
        ("renamed.json", first.staged[0].dump_id)
    ]
    assert not again.exists()
    assert (paths.processed / "renamed.json").is_file()
    # No raw copy is kept for a duplicate, and no scratch copy is left behind.
    assert [p.name for p in paths.raw.iterdir()] == [first.staged[0].dump_id]


def test_records_name_their_file_in_the_raw_copy_which_stays(paths, seed_dir) -> None:
    folder = paths.inbox / "ChatExport"
    folder.mkdir(parents=True)
    (folder / "messages.html").write_bytes((seed_dir / "messages.html").read_bytes())
    with Warehouse.open(paths.warehouse) as wh:
        outcome = ingest_paths([seed_dir / "result.json", folder], wh, paths, ReadOptions())
        files = {r[0] for r in wh.con.sql("SELECT DISTINCT source_file FROM messages").fetchall()}
    raw = {str(staged.root / f.path) for staged, _ in outcome.ingested for f in staged.files}
    # Provenance points at the immutable copy under data/raw, not at the inbox entry,
    # which has moved to processed/ by now.
    assert files and files <= raw
    assert all(Path(f).is_file() and f.startswith(str(paths.raw)) for f in files)
    assert not folder.exists()
