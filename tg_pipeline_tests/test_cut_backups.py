"""A backup cut short is refused on every door: restore, ingest and the inbox.

The manifest travels with its backup into the raw copy, so the row check runs on what
is actually read; without a manifest the writer's name (it holds a sha256 prefix) and the
Parquet footer still give a cut file away. A manifest alone in the inbox is no dump.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tg_pipeline.errors import DumpError
from tg_pipeline.ingest import DataPaths, RunContext, inbox_entries, ingest_paths, stage_dump
from tg_pipeline.readers.backup import manifest_path, read_backup
from tg_pipeline.records import ReadOptions
from tg_pipeline.warehouse import BackupFile, Warehouse
from tg_pipeline_tests.cli_tests.conftest import assert_one_line_error, run_cli
from tg_pipeline_tests.warehouse_tests.builders import batches, dump, json_row

ROWS = 12
KEPT = 6


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, BackupFile]:
    root = tmp_path_factory.mktemp("cut_backups")
    with Warehouse.open(root / "w.duckdb") as warehouse:
        warehouse.ingest(batches([json_row(i) for i in range(1, ROWS + 1)]), dump=dump("d"))
        return {fmt: warehouse.backup(root / fmt, fmt=fmt) for fmt in ("parquet", "csv")}


def cut_csv(made: BackupFile, folder: Path, *, manifest: bool, name: str | None = None) -> Path:
    """The CSV backup with only its first KEPT rows: cut at a row boundary, so it parses."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / (name or made.path.name)
    lines = made.path.read_bytes().split(b"\r\n")
    target.write_bytes(b"\r\n".join(lines[: KEPT + 1]) + b"\r\n")
    if manifest:
        shutil.copyfile(made.manifest_path, manifest_path(target))
    return target


def cut_parquet(made: BackupFile, folder: Path, name: str) -> Path:
    """The Parquet backup rewritten with its first KEPT rows and the writer's metadata."""
    folder.mkdir(parents=True, exist_ok=True)
    table = pq.read_table(made.path)
    target = folder / name
    pq.write_table(table.slice(0, KEPT), target)
    return target


def read_all(path: Path) -> int:
    return sum(batch.num_rows for batch in read_backup(path, ReadOptions()))


def test_a_cut_file_is_refused_with_or_without_its_manifest(
    made: dict[str, BackupFile], tmp_path: Path
) -> None:
    with_manifest = cut_csv(made["csv"], tmp_path / "a", manifest=True)
    with pytest.raises(DumpError, match=f"holds {KEPT} rows but its manifest says {ROWS}"):
        read_all(with_manifest)
    alone = cut_csv(made["csv"], tmp_path / "b", manifest=False)
    with pytest.raises(DumpError, match="sha256 does not start with") as raised:
        read_all(alone)
    assert raised.value.file == str(alone)
    # Renamed and alone, a CSV cut at a row boundary cannot be told from a whole one.
    renamed = cut_csv(made["csv"], tmp_path / "c", manifest=False, name="mine.csv")
    assert read_all(renamed) == KEPT
    # A Parquet file keeps the writer's row count in its footer, whatever its name.
    parquet = cut_parquet(made["parquet"], tmp_path / "d", "mine.parquet")
    with pytest.raises(DumpError, match=f"footer counts {KEPT} rows but it was written with"):
        read_all(parquet)
    with pytest.raises(DumpError, match="rows were cut"):
        read_backup(parquet, ReadOptions()).direct_scan()
    assert read_all(made["parquet"].path) == ROWS


def test_the_manifest_travels_into_the_raw_copy(
    made: dict[str, BackupFile], tmp_path: Path
) -> None:
    paths = DataPaths.under(tmp_path / "data").ensure()
    source = tmp_path / "drop" / made["csv"].path.name
    source.parent.mkdir()
    shutil.copyfile(made["csv"].path, source)
    shutil.copyfile(made["csv"].manifest_path, manifest_path(source))
    staged = stage_dump(source, paths)
    copied = staged.root / source.name
    assert manifest_path(copied).read_bytes() == made["csv"].manifest_path.read_bytes()
    assert [f.path for f in staged.files] == [source.name], "the manifest is not a dump file"


@pytest.mark.parametrize("command", ["restore", "ingest"])
@pytest.mark.parametrize("manifest", [True, False], ids=["with-manifest", "alone"])
def test_restore_and_ingest_refuse_a_cut_backup(
    made: dict[str, BackupFile], tmp_path: Path, command: str, manifest: bool
) -> None:
    path = cut_csv(made["csv"], tmp_path / "drop", manifest=manifest)
    result = run_cli(command, str(path), data_dir=tmp_path / "data")
    assert_one_line_error(result, contains=path.name)
    said = "manifest says 12" if manifest else "sha256 does not start with"
    assert said in result.out + result.err, str(result)
    assert "ingested" not in result.out, str(result)


def test_the_inbox_refuses_a_cut_backup_and_ignores_a_lone_manifest(
    made: dict[str, BackupFile], tmp_path: Path
) -> None:
    paths = DataPaths.under(tmp_path / "data").ensure()
    cut = cut_csv(made["csv"], paths.inbox, manifest=True)
    lone = paths.inbox / ("other.parquet" + ".manifest.json")
    shutil.copyfile(made["parquet"].manifest_path, lone)
    assert inbox_entries(paths.inbox) == [cut]
    with Warehouse.open(paths.warehouse) as warehouse:
        outcome = ingest_paths(
            inbox_entries(paths.inbox),
            warehouse,
            paths,
            ReadOptions(),
            run=RunContext(run_id="r1", job="test", emit=lambda events: None),
        )
        assert warehouse.con.sql("SELECT count(*) FROM messages").fetchall()[0][0] == 0
    assert [(src.name, type(err)) for src, err in outcome.failures] == [(cut.name, DumpError)]
    assert f"manifest says {ROWS}" in str(outcome.failures[0][1])
    # The backup left with its manifest; the lone manifest waits, unread and unharmed.
    quarantined = paths.quarantine / cut.name
    assert quarantined.is_file() and manifest_path(quarantined).is_file()
    assert sorted(p.name for p in paths.inbox.iterdir()) == [lone.name]


def test_a_whole_backup_with_its_manifest_still_restores(
    made: dict[str, BackupFile], tmp_path: Path
) -> None:
    paths = DataPaths.under(tmp_path / "data").ensure()
    entry = paths.inbox / made["parquet"].path.name
    shutil.copyfile(made["parquet"].path, entry)
    shutil.copyfile(made["parquet"].manifest_path, manifest_path(entry))
    with Warehouse.open(paths.warehouse) as warehouse:
        outcome = ingest_paths(
            inbox_entries(paths.inbox),
            warehouse,
            paths,
            ReadOptions(),
            run=RunContext(run_id="r1", job="test", emit=lambda events: None),
        )
        assert warehouse.con.sql("SELECT count(*) FROM messages").fetchall()[0][0] == ROWS
    assert outcome.failures == []
    assert list(paths.inbox.iterdir()) == []
    assert manifest_path(paths.processed / entry.name).is_file()
