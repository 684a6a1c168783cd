"""The one ingest path without Dagster: raw copy, upsert, processed/quarantine moves."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pytest

from tg_pipeline.config import Settings
from tg_pipeline.errors import DumpError
from tg_pipeline.ingest import (
    DataPaths,
    RunContext,
    dump_id_for,
    inbox_entries,
    ingest_paths,
    load_staged,
    reporting_progress,
    stage_dump,
    unique_destination,
)
from tg_pipeline.readers import fingerprint_dump, read_dump
from tg_pipeline.records import ReadOptions
from tg_pipeline.warehouse import Warehouse
from tg_pipeline_tests.dagster_harness import drop


@pytest.fixture
def paths(tmp_path: Path) -> DataPaths:
    return DataPaths.under(tmp_path / "data").ensure()


def test_dump_id_is_readable_and_valid_as_a_partition_key() -> None:
    fp = "0123456789abcdef" * 4
    assert dump_id_for("ChatExport_2024-01-31", fp) == "ChatExport_2024-01-31-0123456789ab"
    assert dump_id_for("result.json", fp) == "result.json-0123456789ab"
    odd = dump_id_for("Чат с Васей...\t(копия).zip", fp)
    assert "..." not in odd and "\t" not in odd
    assert odd.endswith("-0123456789ab")
    assert dump_id_for("...", fp) == "dump-0123456789ab"


def test_paths_derive_from_the_data_dir(tmp_path: Path) -> None:
    paths = DataPaths.under(tmp_path / "d", inbox=tmp_path / "drop")
    assert paths.warehouse == tmp_path / "d" / "warehouse.duckdb"
    assert paths.inbox == tmp_path / "drop"
    assert paths.raw == tmp_path / "d" / "raw"
    env = Settings.from_env({"TG_DATA_DIR": str(tmp_path / "e")}).paths()
    assert env.backups == tmp_path / "e" / "backups"


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


def test_files_outside_the_inbox_are_never_moved(paths, seed_dir) -> None:
    with Warehouse.open(paths.warehouse) as wh:
        outcome = ingest_paths([seed_dir / "result.json"], wh, paths, ReadOptions())
    assert len(outcome.ingested) == 1
    assert (seed_dir / "result.json").is_file()
    assert list(paths.processed.iterdir()) == []


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


def test_unique_destination_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "result.json").write_text("1")
    first = unique_destination(tmp_path, "result.json", "result.json-0123456789ab")
    assert first.name == "result.0123456789ab.json"
    first.write_text("2")
    second = unique_destination(tmp_path, "result.json", "result.json-0123456789ab")
    assert second.name == "result.0123456789ab-1.json"
    (tmp_path / "export").mkdir()
    assert unique_destination(tmp_path, "export", None).name.startswith("export.")


def test_progress_lines_count_the_bytes_of_pages_already_read(paths, tmp_path) -> None:
    sample = Path(__file__).resolve().parents[1] / "tg_pipeline" / "sample_export" / "html"
    export = tmp_path / "ChatExport_html"
    export.mkdir()
    for page in sample.glob("messages*.html"):
        (export / page.name).write_bytes(page.read_bytes())
    staged = stage_dump(export, paths)
    assert len(staged.files) == 2
    first_page = staged.files[0].bytes
    lines: list[str] = []
    batches = read_dump(staged.as_dump(), ReadOptions(batch_size=10, workers=1))
    rows = sum(b.num_rows for b in reporting_progress(batches, staged, lines.append, every_s=0))

    assert rows == 50
    done = [int(line.split(", ")[1].split(" of ")[0].replace(",", "")) for line in lines]
    assert done == sorted(done), "progress never goes backwards"
    assert 0 in done and first_page in done
    assert lines[-1].endswith(f"{staged.total_bytes:,} of {staged.total_bytes:,} bytes")


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
