"""Inbox moves: processed/, quarantine/ with its report, and files left where they are."""

from __future__ import annotations

import stat

from tg_pipeline.ingest import ingest_paths
from tg_pipeline.records import ReadOptions
from tg_pipeline.warehouse import Warehouse


def test_files_outside_the_inbox_are_never_moved(paths, seed_dir) -> None:
    with Warehouse.open(paths.warehouse) as wh:
        outcome = ingest_paths([seed_dir / "result.json"], wh, paths, ReadOptions())
    assert len(outcome.ingested) == 1
    assert (seed_dir / "result.json").is_file()
    assert list(paths.processed.iterdir()) == []


def test_error_report_points_into_the_quarantine(paths, seed_dir) -> None:
    folder = paths.inbox / "Broken"
    folder.mkdir(parents=True)
    text = (seed_dir / "result.json").read_text(encoding="utf-8")
    (folder / "result.json").write_text(text[: text.index('"id": 182656')], encoding="utf-8")
    with Warehouse.open(paths.warehouse) as wh:
        outcome = ingest_paths([folder], wh, paths, ReadOptions())
    error = outcome.failures[0][1]
    assert error.file == str(folder / "result.json")
    report = (paths.quarantine / "Broken.error.txt").read_text(encoding="utf-8")
    assert f"file:      {paths.quarantine / 'Broken' / 'result.json'}" in report
    assert error.position and f"position:  {error.position}" in report


def test_a_linked_dump_that_fails_to_read_is_quarantined_writable(paths, seed_dir) -> None:
    """Staging sealed the file read-only as the raw copy; once that copy is dropped with the
    bad dump, the user gets the quarantined file back writable, to fix it in place."""
    text = (seed_dir / "result.json").read_text(encoding="utf-8")
    bad = paths.inbox / "broken.json"
    bad.write_text(text[: text.index('"id": 182656')], encoding="utf-8")
    with Warehouse.open(paths.warehouse) as wh:
        outcome = ingest_paths([bad], wh, paths, ReadOptions())
    assert [src.name for src, _ in outcome.failures] == ["broken.json"]
    kept = paths.quarantine / "broken.json"
    assert kept.stat().st_mode & stat.S_IWUSR
    assert kept.stat().st_nlink == 1
    assert list(paths.raw.iterdir()) == []
