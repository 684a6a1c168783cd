"""The ingest of staged dumps and of inbox entries, one after another, each kept to its
step's outcome: processed, duplicate, or quarantined."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tg_pipeline.errors import DumpError
from tg_pipeline.ingest.context import RunContext
from tg_pipeline.ingest.inbox import mark_processed, quarantine
from tg_pipeline.ingest.layout import DataPaths
from tg_pipeline.ingest.naming import fingerprint_prefix
from tg_pipeline.ingest.progress import reporting_progress
from tg_pipeline.ingest.staging import DuplicateDump, StagedDump, stage_dump
from tg_pipeline.readers import read_dump
from tg_pipeline.readers.workers import start_early_for
from tg_pipeline.records import ReadOptions, ScannableRecords
from tg_pipeline.warehouse import IngestResult
from tg_pipeline.warehouse.backend import WarehouseApi


def ingest_staged(
    staged: StagedDump,
    warehouse: WarehouseApi,
    paths: DataPaths,
    options: ReadOptions,
    *,
    run: RunContext | None = None,
) -> IngestResult:
    """Upsert a staged dump in one transaction; then move its inbox entry out of the inbox.

    A DumpError while reading rolls the transaction back, quarantines the entry, records
    the failure in the ``dumps`` table and is raised again.
    """
    run = run or RunContext()
    record = staged.record()
    try:
        batches = read_dump(staged.as_dump(), options)
        # A backup the warehouse scans itself is one statement with no batches to count;
        # wrapping it would hide the scan and restore it batch by batch instead.
        if run.log is not None and not isinstance(batches, ScannableRecords):
            batches = reporting_progress(batches, staged, run.log)
        result = warehouse.ingest(batches, dump=record, chat_id=options.chat_id)
    except DumpError as err:
        warehouse.record_dump_failure(record, str(err))
        quarantine(staged.source, err, paths, dump_id=staged.dump_id, run=run)
        raise
    mark_processed(staged.source, paths, staged.dump_id)
    run.audit(
        "dump_ingested",
        dump=staged.dump_id,
        kind=staged.kind,
        fingerprint=staged.fingerprint,
        new=result.new,
        updated=result.updated,
        unchanged=result.unchanged,
        rows=result.rows,
    )
    if staged.kind.startswith("backup"):
        run.audit(
            "backup_restored",
            dump=staged.dump_id,
            rows=result.rows,
            new=result.new,
            already_present=result.unchanged + result.updated,
        )
    return result


def stage_or_quarantine(
    source: Path,
    paths: DataPaths,
    *,
    run: RunContext | None = None,
    known: Mapping[str, str] | None = None,
) -> StagedDump:
    """:func:`stage_dump`, quarantining the entry when it cannot even be detected."""
    # The readers' fork server starts on the other core while this one copies the dump.
    start_early_for(source)
    try:
        return stage_dump(source, paths, known=known)
    except DumpError as err:
        quarantine(source, err, paths, run=run, stage="detect")
        raise


@dataclass
class InboxOutcome:
    """What one pass over the inbox did, for a run's metadata or a command's summary."""

    ingested: list[tuple[StagedDump, IngestResult]] = field(default_factory=list)
    duplicates: list[tuple[Path, str]] = field(default_factory=list)
    failures: list[tuple[Path, DumpError]] = field(default_factory=list)

    @property
    def staged(self) -> list[StagedDump]:
        return [staged for staged, _ in self.ingested]


def ingest_paths(
    sources: Iterable[Path],
    warehouse: WarehouseApi,
    paths: DataPaths,
    options: ReadOptions,
    *,
    known_dumps: Iterable[str] = (),
    run: RunContext | None = None,
    on_staged: Callable[[StagedDump], None] | None = None,
    on_ingested: Callable[[StagedDump, IngestResult], None] | None = None,
) -> InboxOutcome:
    """Ingest several dumps one after another; a bad one never stops the others.

    ``known_dumps`` holds dump ids already registered (dynamic partition keys): an inbox entry
    with the same content as one of those is a duplicate drop, moved to processed/ without
    being read again. Entries outside the inbox are always ingested, since naming a file
    explicitly means "load this".
    """
    run = run or RunContext()
    known = {fingerprint_prefix(dump_id): dump_id for dump_id in known_dumps}
    outcome = InboxOutcome()
    for source in sources:
        try:
            staged = stage_or_quarantine(
                source, paths, run=run, known=known if paths.in_inbox(source) else None
            )
        except DumpError as err:
            outcome.failures.append((source, err))
            continue
        except DuplicateDump as dup:
            moved = mark_processed(source, paths, dup.dump_id)
            run.audit(
                "dump_duplicate",
                dump=dup.dump_id,
                duplicate_of=dup.original,
                path=str(source),
                moved_to=str(moved) if moved else None,
            )
            outcome.duplicates.append((source, dup.original))
            continue
        known[fingerprint_prefix(staged.dump_id)] = staged.dump_id
        if on_staged is not None:
            on_staged(staged)
        try:
            result = ingest_staged(staged, warehouse, paths, options, run=run)
        except DumpError as err:
            outcome.failures.append((source, err))
            continue
        outcome.ingested.append((staged, result))
        if on_ingested is not None:
            on_ingested(staged, result)
    return outcome
