"""Staging: the immutable raw copy of a dump."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pytest

from tg_pipeline.errors import DumpError
from tg_pipeline.ingest import (
    dump_id_for,
    inbox_entries,
    ingest_paths,
    load_staged,
    stage_dump,
)
from tg_pipeline.readers import fingerprint_dump
from tg_pipeline.records import ReadOptions
from tg_pipeline.warehouse import Warehouse
from tg_pipeline_tests.dagster_harness import drop


def test_stage_keeps_an_immutable_copy_of_text_files_only(paths, seed_dir, tmp_path) -> None:
    export = tmp_path / "ChatExport_2022"
    (export / "photos").mkdir(parents=True)
    (export / "result.json").write_bytes((seed_dir / "result.json").read_bytes())
    (export / "photos" / "photo_1.jpg").write_bytes(b"\xff\xd8 not text")

    staged = stage_dump(export, paths)

    assert staged.dump_id == dump_id_for("ChatExport_2022", fingerprint_dump(export))
    copied = sorted(
        p.relative_to(staged.root).as_posix() for p in staged.root.rglob("*") if p.is_file()
    )
    assert copied == ["result.json"]
    manifest = json.loads(staged.manifest_path.read_text())
    data = (export / "result.json").read_bytes()
    assert manifest["files"] == [
        {"path": "result.json", "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    ]
    assert manifest["kind"] == "telegram_json"
    assert manifest["fingerprint"] == staged.fingerprint
    assert manifest["source"] == str(export)
    copy = staged.root / "result.json"
    assert not copy.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert load_staged(paths, staged.dump_id) == staged
    # Staging the same content again keeps the first copy untouched.
    assert stage_dump(export, paths).staged_at == staged.staged_at


def test_staging_reads_once_and_leaves_nothing_from_a_bad_dump(paths, seed_dir, tmp_path):
    """The raw copy is written while the content is checked: a dump found bad half-way
    (here invalid UTF-8 after the first megabyte) leaves no partial copy in raw/."""
    import zipfile

    text = (seed_dir / "result.json").read_bytes()
    padding = b" " * (2 << 20)
    bad = tmp_path / "bad.json"
    bad.write_bytes(text[:-2] + padding + b"\xff\xfe" + text[-2:])
    with pytest.raises(DumpError) as caught:
        stage_dump(bad, paths)
    assert caught.value.file == str(bad)
    assert "invalid UTF-8" in caught.value.message
    assert list(paths.raw.iterdir()) == []

    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ChatExport/result.json", text)
        zf.writestr("ChatExport/photos/p.jpg", b"\xff\xd8")
    staged = stage_dump(archive, paths)
    assert staged.source_type == "zip"
    assert staged.fingerprint == fingerprint_dump(archive)
    assert [f.path for f in staged.files] == ["ChatExport/result.json"]
    assert (staged.root / "ChatExport" / "result.json").read_bytes() == text
    assert sorted(p.name for p in paths.raw.iterdir()) == [staged.dump_id]


def test_restaging_a_known_name_neither_copies_nor_misses_a_duplicate(paths, seed_dir) -> None:
    from tg_pipeline.ingest import DuplicateDump, fingerprint_prefix

    source = seed_dir / "result.json"
    staged = stage_dump(source, paths)
    copy = staged.root / "result.json"
    before = copy.stat().st_mtime_ns
    assert stage_dump(source, paths) == staged
    assert copy.stat().st_mtime_ns == before
    with pytest.raises(DuplicateDump) as dup:
        stage_dump(source, paths, known={fingerprint_prefix(staged.dump_id): "earlier"})
    assert dup.value.original == "earlier"
    assert [p.name for p in paths.raw.iterdir()] == [staged.dump_id]


def _same_file(a: Path, b: Path) -> bool:
    return a.stat().st_ino == b.stat().st_ino and a.stat().st_dev == b.stat().st_dev


def test_an_inbox_file_of_its_own_becomes_the_raw_copy(paths, seed_dir) -> None:
    """A dropped file that nothing else links to is not written a second time: the raw copy
    and the processed entry are one read-only file, whose bytes the manifest describes."""
    entry = drop(seed_dir / "result.json", paths.inbox)
    folder = paths.inbox / "ChatExport"
    drop(seed_dir / "messages.html", folder)
    with Warehouse.open(paths.warehouse) as wh:
        outcome = ingest_paths(inbox_entries(paths.inbox), wh, paths, ReadOptions())
    assert not outcome.failures
    by_name = {staged.source.name: staged for staged in outcome.staged}
    raw = by_name["result.json"].root / "result.json"
    processed = paths.processed / entry.name
    assert _same_file(raw, processed)
    assert not processed.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    data = processed.read_bytes()
    assert by_name["result.json"].files[0].sha256 == hashlib.sha256(data).hexdigest()
    staged_folder = by_name[folder.name]
    for staged_file in staged_folder.files:
        assert _same_file(
            staged_folder.root / staged_file.path, paths.processed / folder.name / staged_file.path
        )


def test_dropped_files_with_another_name_and_named_paths_are_copied(
    paths, seed_dir, tmp_path
) -> None:
    """A file still reachable elsewhere (dropped as a hard link), or named on a command
    line, stays the user's: the raw copy has bytes of its own and the file keeps its mode."""
    theirs = tmp_path / "theirs.json"
    theirs.write_bytes((seed_dir / "result.json").read_bytes())
    paths.inbox.mkdir(parents=True, exist_ok=True)
    linked = paths.inbox / "linked.json"
    linked.hardlink_to(theirs)
    named = tmp_path / "named.html"
    named.write_bytes((seed_dir / "messages.html").read_bytes())
    mode = named.stat().st_mode
    with Warehouse.open(paths.warehouse) as wh:
        outcome = ingest_paths([linked, named], wh, paths, ReadOptions())
    assert not outcome.failures
    by_name = {staged.source.name: staged for staged in outcome.staged}
    assert not _same_file(by_name["linked.json"].root / "linked.json", theirs)
    assert not _same_file(by_name["named.html"].root / "named.html", named)
    assert theirs.stat().st_mode & stat.S_IWUSR
    assert named.stat().st_mode == mode
