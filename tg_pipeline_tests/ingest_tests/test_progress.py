"""Progress lines while a staged dump is read."""

from __future__ import annotations

from pathlib import Path

from tg_pipeline.ingest import (
    reporting_progress,
    stage_dump,
)
from tg_pipeline.ingest.progress import ReadProgress
from tg_pipeline.readers import read_dump
from tg_pipeline.records import ReadOptions


def test_progress_lines_count_the_bytes_of_pages_already_read(paths, tmp_path) -> None:
    sample = Path(__file__).resolve().parents[2] / "tg_pipeline" / "sample_export" / "html"
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


def test_a_progress_line_reads_back_as_what_was_written(paths, tmp_path) -> None:
    sample = Path(__file__).resolve().parents[2] / "tg_pipeline" / "sample_export" / "json"
    staged = stage_dump(sample / "result.json", paths)
    lines: list[str] = []
    batches = read_dump(staged.as_dump(), ReadOptions(batch_size=10, workers=1))
    rows = sum(b.num_rows for b in reporting_progress(batches, staged, lines.append, every_s=0))

    read = [ReadProgress.parse(line) for line in lines]
    assert all(r is not None and r.dump_id == staged.dump_id for r in read)
    last = read[-1]
    assert last == ReadProgress(staged.dump_id, rows, staged.total_bytes, staged.total_bytes)
    big = ReadProgress("d-1", 1_234_567, 9_876_543_210, 10_000_000_000)
    assert ReadProgress.parse(f"step messages: {big.line()}") == big
    assert ReadProgress.parse("dump d-1: 12 records read") is None
    assert ReadProgress.parse("42 of 100 bytes") is None
