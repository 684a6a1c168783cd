"""Progress lines while a staged dump is read."""

from __future__ import annotations

from pathlib import Path

from tg_pipeline.ingest import (
    reporting_progress,
    stage_dump,
)
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
