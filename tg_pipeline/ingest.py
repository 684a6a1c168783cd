"""The one ingest path: inbox entry → raw copy → warehouse → processed (or quarantine).

The assets, the inbox job, the CLI and the sensor's quarantine all go through these
functions, so a dump is treated the same way whichever door it came in by. Nothing here
imports Dagster: the orchestration layer only decides *when* these run.

Steps, each usable on its own because the ``raw_dump`` and ``messages`` assets are two steps:

1. :func:`stage_dump` detects the dump and copies its text files (never media) into
   ``raw/<dump_id>/files/`` with a ``manifest.json`` (sizes, sha256, kind, fingerprint,
   source). The copy is immutable: it is what a later re-materialization reads.
2. :func:`ingest_staged` streams the copy into the warehouse in one transaction.
3. On success the inbox entry moves to ``processed/``; on a :class:`DumpError` it moves to
   ``quarantine/`` next to ``<name>.error.txt``, the warehouse records the failure, and the
   error is raised again so the caller (a run, a command) fails with that message.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from tg_pipeline.errors import DumpError, TgPipelineError
from tg_pipeline.events import emit, make_audit_event
from tg_pipeline.readers import Dump, DumpKind, copy_dump, fingerprint_dump, read_dump
from tg_pipeline.readers import progress as read_progress
from tg_pipeline.readers.backup import MANIFEST_SUFFIX, manifest_path
from tg_pipeline.readers.workers import start_early_for
from tg_pipeline.records import ReadOptions
from tg_pipeline.warehouse import DumpRecord, IngestResult, Warehouse

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
FINGERPRINT_PREFIX = 12

#: Names in the inbox that are never a dump: hidden files, our own reports, and the
#: temporary names browsers and copy tools use while a file is still arriving.
_IGNORED_SUFFIXES = (".error.txt", ".part", ".partial", ".crdownload", ".tmp", ".download")

#: Receives each audit event the ingest path produces (the events outbox in production).
EventSink = Callable[[list[dict[str, Any]]], None]


class DumpNotFound(TgPipelineError):
    """A dump id names neither a raw copy nor an inbox entry."""


class DuplicateDump(TgPipelineError):
    """The content of an inbox entry was registered before, as dump ``original``."""

    def __init__(self, dump_id: str, original: str, source: Path) -> None:
        self.dump_id = dump_id
        self.original = original
        self.source = source
        super().__init__(f"{source.name}: same content as dump {original}; not ingested again")


@dataclass(frozen=True)
class DataPaths:
    """The directory layout under the data directory."""

    data_dir: Path
    warehouse: Path
    inbox: Path
    processed: Path
    quarantine: Path
    raw: Path
    backups: Path

    @classmethod
    def under(
        cls,
        data_dir: str | os.PathLike[str],
        *,
        warehouse: str | os.PathLike[str] | None = None,
        inbox: str | os.PathLike[str] | None = None,
        processed: str | os.PathLike[str] | None = None,
        quarantine: str | os.PathLike[str] | None = None,
        raw: str | os.PathLike[str] | None = None,
        backups: str | os.PathLike[str] | None = None,
    ) -> DataPaths:
        """Absolute paths, so a run that changes directory still finds the same files."""
        root = Path(data_dir).expanduser().absolute()

        def pick(given: str | os.PathLike[str] | None, default: str) -> Path:
            return Path(given).expanduser().absolute() if given else root / default

        return cls(
            data_dir=root,
            warehouse=pick(warehouse, "warehouse.duckdb"),
            inbox=pick(inbox, "inbox"),
            processed=pick(processed, "processed"),
            quarantine=pick(quarantine, "quarantine"),
            raw=pick(raw, "raw"),
            backups=pick(backups, "backups"),
        )

    def ensure(self) -> DataPaths:
        for directory in (
            self.data_dir,
            self.warehouse.parent,
            self.inbox,
            self.processed,
            self.quarantine,
            self.raw,
            self.backups,
        ):
            directory.mkdir(parents=True, exist_ok=True)
        return self

    def in_inbox(self, path: Path) -> bool:
        try:
            return path.absolute().parent == self.inbox
        except OSError:
            return False


_SLUG_BAD = re.compile(r"[^A-Za-z0-9._-]+")
_SLUG_DOTS = re.compile(r"\.{2,}")


def dump_id_for(name: str, fingerprint: str) -> str:
    """A dump id a person can read: the inbox name, then the fingerprint's first 12 digits.

    Only the fingerprint part identifies content; the name part is there so the partition
    list in the UI says which drop each partition came from.
    """
    slug = _SLUG_DOTS.sub(".", _SLUG_BAD.sub("_", name)).strip("._-")[:60] or "dump"
    return f"{slug}-{fingerprint[:FINGERPRINT_PREFIX]}"


def fingerprint_prefix(dump_id: str) -> str:
    return dump_id.rsplit("-", 1)[-1]


def inbox_entries(inbox: Path) -> list[Path]:
    """Top-level inbox entries that may be dumps, in name order."""
    try:
        names = sorted(entry.name for entry in os.scandir(inbox))
    except FileNotFoundError:
        return []
    return [inbox / name for name in names if is_candidate_name(name)]


def is_candidate_name(name: str) -> bool:
    """A backup's manifest is no dump: it travels with its backup, or waits for it."""
    lowered = name.lower()
    return not (
        name.startswith((".", "~")) or lowered.endswith((*_IGNORED_SUFFIXES, MANIFEST_SUFFIX))
    )


@dataclass(frozen=True)
class StagedFile:
    path: str
    bytes: int
    sha256: str


@dataclass(frozen=True)
class StagedDump:
    """A dump's immutable raw copy, as its manifest describes it."""

    dump_id: str
    kind: str
    fingerprint: str
    source: Path
    root: Path
    files: tuple[StagedFile, ...]
    total_bytes: int
    staged_at: str
    #: "folder", "file" or "zip": how the dump arrived, which decides how its files are named.
    source_type: str = "folder"
    #: What detection decided that a user may not expect (HTML pages left for the JSON).
    notes: tuple[str, ...] = ()

    @property
    def directory(self) -> Path:
        return self.root.parent

    @property
    def manifest_path(self) -> Path:
        return self.directory / MANIFEST_NAME

    def record(self) -> DumpRecord:
        return DumpRecord(
            dump_id=self.dump_id,
            kind=self.kind,
            fingerprint=self.fingerprint,
            source=str(self.source),
            files=[f.path for f in self.files],
        )

    @property
    def display_base(self) -> Path:
        """Where the files were as dropped: errors name them there, exactly as if the dump
        had been read in place. Records name their file in the raw copy, which stays where
        it is when the inbox entry moves on."""
        return self.source.parent if self.source_type == "file" else self.source

    def as_dump(self) -> Dump:
        """The raw copy as a reader input, without detecting or hashing it again."""
        return Dump(
            source=self.display_base,
            root=self.root,
            kind=DumpKind(self.kind),
            files=tuple(self.root / f.path for f in self.files),
            fingerprint=self.fingerprint,
            total_bytes=self.total_bytes,
            extracted_to=self.root,
            relabel_records=False,
        )

    def to_manifest(self) -> dict[str, Any]:
        return {
            "manifest_version": MANIFEST_VERSION,
            "dump_id": self.dump_id,
            "kind": self.kind,
            "fingerprint": self.fingerprint,
            "source": str(self.source),
            "source_type": self.source_type,
            "staged_at": self.staged_at,
            "total_bytes": self.total_bytes,
            "files": [{"path": f.path, "bytes": f.bytes, "sha256": f.sha256} for f in self.files],
            "notes": list(self.notes),
        }

    @classmethod
    def from_manifest(cls, manifest_path: Path) -> StagedDump:
        data = json.loads(manifest_path.read_text(encoding="utf-8"))
        return cls(
            dump_id=data["dump_id"],
            kind=data["kind"],
            fingerprint=data["fingerprint"],
            source=Path(data["source"]),
            root=manifest_path.parent / "files",
            files=tuple(StagedFile(f["path"], f["bytes"], f["sha256"]) for f in data["files"]),
            total_bytes=data["total_bytes"],
            staged_at=data["staged_at"],
            source_type=data.get("source_type", "folder"),
            notes=tuple(data.get("notes", ())),
        )


def load_staged(paths: DataPaths, dump_id: str) -> StagedDump | None:
    """The raw copy of ``dump_id``, or None when it has not been staged."""
    manifest = paths.raw / dump_id / MANIFEST_NAME
    if not manifest.is_file():
        return None
    return StagedDump.from_manifest(manifest)


def stage_dump(
    source: Path, paths: DataPaths, *, known: Mapping[str, str] | None = None
) -> StagedDump:
    """Detect ``source`` and keep an immutable copy of its text files; raises DumpError.

    The copy is written as the content is checked and fingerprinted, so every byte is
    read once; until the fingerprint (and so the dump id) is known it sits in a hidden
    scratch folder. An inbox file that nothing else links to becomes the copy itself (a
    hard link, made read-only like any copy), so a large export is not written twice.
    Staging the same content twice keeps the existing copy, so re-running a partition
    never rewrites what an earlier run recorded. Content whose fingerprint prefix is a key
    of ``known`` (prefix → dump id) raises DuplicateDump, leaving nothing behind.
    """
    source = source.absolute()
    paths.raw.mkdir(parents=True, exist_ok=True)
    kept = _already_staged(source, paths, known)
    if kept is not None:
        return kept
    scratch = Path(tempfile.mkdtemp(prefix=".staging-", dir=paths.raw))
    try:
        # An inbox entry is ours once dropped: its files may become the raw copy itself.
        dump = copy_dump(source, scratch / "files", link=paths.in_inbox(source))
        _copy_backup_manifest(source, dump, scratch / "files")
        dump_id = dump_id_for(source.name, dump.fingerprint)
        original = (known or {}).get(fingerprint_prefix(dump_id))
        if original is not None:
            raise DuplicateDump(dump_id, original, source)
        existing = load_staged(paths, dump_id)
        if existing is not None and existing.fingerprint == dump.fingerprint:
            return existing
        return _keep_copy(scratch, dump, source, dump_id, paths)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _copy_backup_manifest(source: Path, dump: Dump, files: Path) -> None:
    """A backup's manifest goes into the raw copy beside it, where the reader checks it."""
    backups = (DumpKind.BACKUP_PARQUET, DumpKind.BACKUP_CSV)
    sidecar = manifest_path(source)
    if dump.kind not in backups or len(dump.names) != 1 or not sidecar.is_file():
        return
    target = manifest_path(files.joinpath(*dump.names[0].split("/")))
    shutil.copyfile(sidecar, target)
    target.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


def _move_with_manifest(source: Path, dest: Path) -> None:
    """Move an inbox entry, and a backup's manifest beside it along with it."""
    sidecar = manifest_path(source)
    shutil.move(str(source), dest)
    if sidecar.is_file():
        shutil.move(str(sidecar), manifest_path(dest))


def _already_staged(
    source: Path, paths: DataPaths, known: Mapping[str, str] | None
) -> StagedDump | None:
    """The raw copy of ``source`` when one was staged from an entry of the same name.

    Re-running a partition, or ingesting the same file again by path, would otherwise
    copy the whole dump only to find the copy already there. Only then is the content
    fingerprinted before it is copied; a name never staged goes straight to the copy.
    """
    slug = dump_id_for(source.name, "")
    if not any(paths.raw.glob(f"{glob.escape(slug)}*")):
        return None
    try:
        fingerprint = fingerprint_dump(source)
    except DumpError:
        return None
    dump_id = dump_id_for(source.name, fingerprint)
    original = (known or {}).get(fingerprint_prefix(dump_id))
    if original is not None:
        raise DuplicateDump(dump_id, original, source)
    existing = load_staged(paths, dump_id)
    if existing is not None and existing.fingerprint == fingerprint:
        return existing
    return None


def _keep_copy(
    scratch: Path, dump: Dump, source: Path, dump_id: str, paths: DataPaths
) -> StagedDump:
    """Seal the scratch copy (read-only files, a manifest) and move it to ``raw/<dump_id>``."""
    target = paths.raw / dump_id
    read_only = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
    for name in dump.names:
        (scratch / "files" / name).chmod(read_only)
    if dump.extracted_to is not None:
        source_type = "zip"
    elif source.is_dir():
        source_type = "folder"
    else:
        source_type = "file"
    staged = StagedDump(
        dump_id=dump_id,
        kind=str(dump.kind),
        fingerprint=dump.fingerprint,
        source=source,
        root=target / "files",
        files=tuple(
            StagedFile(name, digest.size, digest.hexdigest())
            for name, digest in zip(dump.names, dump.digests, strict=True)
        ),
        total_bytes=dump.total_bytes,
        staged_at=datetime.now(UTC).isoformat(timespec="seconds"),
        source_type=source_type,
        notes=dump.notes,
    )
    _write_json(scratch / MANIFEST_NAME, staged.to_manifest())
    (scratch / MANIFEST_NAME).chmod(read_only)
    try:
        scratch.rename(target)
    except OSError:
        # Another process staged the same content first; its copy is as good as ours.
        if load_staged(paths, dump_id) is None:
            shutil.rmtree(target, ignore_errors=True)
            scratch.rename(target)
    return staged


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def locate_dump(paths: DataPaths, dump_id: str) -> Path:
    """The inbox entry whose content is ``dump_id``; raises DumpNotFound.

    Used when a partition is materialized without a source (from the UI, say): the entry
    name is recoverable from the id, and the fingerprint confirms it is the same content.
    """
    slug_part = dump_id.rsplit("-", 1)[0]
    for entry in inbox_entries(paths.inbox):
        if dump_id_for(entry.name, "x").rsplit("-", 1)[0] != slug_part:
            continue
        try:
            if dump_id_for(entry.name, fingerprint_dump(entry)) == dump_id:
                return entry
        except DumpError:
            continue
    raise DumpNotFound(
        f"dump {dump_id!r} has no raw copy under {paths.raw} and no inbox entry in "
        f"{paths.inbox} with that content"
    )


@dataclass(frozen=True)
class RunContext:
    """Who is ingesting, for audit events: a Dagster run, a CLI command, a test."""

    run_id: str | None = None
    job: str | None = None
    emit: EventSink | None = None
    #: Where progress lines go (a run's log); the CLI's progress bar reads them from there.
    log: Callable[[str], None] | None = None

    def audit(self, event_type: str, *, dump: str | None, **payload: Any) -> None:
        if self.emit is None:
            return
        self.emit(
            [make_audit_event(event_type, run_id=self.run_id, job=self.job, dump=dump, **payload)]
        )


def outbox_sink(data_dir: Path) -> EventSink:
    """Events go to the durable outbox under the data dir; the relay takes them to Kafka."""

    def sink(events: list[dict[str, Any]]) -> None:
        if events:
            emit(data_dir, events)

    return sink


@dataclass(frozen=True)
class Quarantined:
    path: Path
    report: Path


def quarantine(
    source: Path,
    error: BaseException,
    paths: DataPaths,
    *,
    dump_id: str | None = None,
    run: RunContext | None = None,
    stage: str = "read",
) -> Quarantined | None:
    """Move an unreadable inbox entry aside with a report saying what is wrong and where.

    Entries outside the inbox (a path given on the command line) are the user's files and
    stay where they are; the error still reaches the user through the raised exception.
    """
    run = run or RunContext()
    if dump_id is not None:
        shutil.rmtree(paths.raw / dump_id, ignore_errors=True)
    # An undetectable dump has no fingerprint; the audit trail names it by its entry.
    audit_dump = dump_id or dump_id_for(source.name, "unreadable")
    if not (source.exists() and paths.in_inbox(source)):
        run.audit(
            "dump_quarantined", dump=audit_dump, error=str(error), path=str(source), stage=stage
        )
        return None
    paths.quarantine.mkdir(parents=True, exist_ok=True)
    dest = unique_destination(paths.quarantine, source.name, dump_id)
    _move_with_manifest(source, dest)
    _writable_again(dest)
    report = dest.with_name(dest.name + ".error.txt")
    report.write_text(_error_report(source, dest, error, dump_id, run, stage), encoding="utf-8")
    run.audit(
        "dump_quarantined",
        dump=audit_dump,
        error=str(error),
        path=str(dest),
        report=str(report),
        stage=stage,
    )
    return Quarantined(dest, report)


def _writable_again(entry: Path) -> None:
    """Give the owner write access back to a quarantined entry's files.

    Staging may have hard-linked them into a raw copy and sealed that read-only; the raw
    copy is gone now, and the user is asked to fix the files where they lie.
    """
    files = [entry] if entry.is_file() else list(entry.rglob("*"))
    for path in files:
        try:
            # lstat: a link in a hostile dump must not lend its target our permissions.
            mode = path.lstat().st_mode
            if stat.S_ISREG(mode) and not mode & stat.S_IWUSR:
                path.chmod(mode | stat.S_IWUSR)
        except OSError:
            continue


def _error_report(
    source: Path,
    dest: Path,
    error: BaseException,
    dump_id: str | None,
    run: RunContext,
    stage: str,
) -> str:
    file = getattr(error, "file", None)
    if file and (file == str(source) or file.startswith(f"{source}/")):
        file = str(dest) + file[len(str(source)) :]
    position = getattr(error, "position", None)
    message = getattr(error, "message", None) or str(error)
    lines = [
        "tg_pipeline could not ingest this dump; nothing of it was stored.",
        "",
        f"dump:      {source.name}",
        f"dump id:   {dump_id or '(not detected)'}",
        f"error:     {message}",
        f"file:      {file or '-'}",
        f"position:  {position or '-'}",
        f"stage:     {'detecting the dump' if stage == 'detect' else 'reading the messages'}",
        f"dropped:   {source}",
        f"moved to:  {dest}",
        f"when:      {datetime.now(UTC).isoformat(timespec='seconds')}",
    ]
    if run.run_id:
        lines.append(f"run:       {run.run_id} ({run.job})")
    lines += ["", "Fix the dump and drop it into the inbox again.", ""]
    return "\n".join(lines)


def mark_processed(source: Path, paths: DataPaths, dump_id: str | None = None) -> Path | None:
    """Move an ingested inbox entry to processed/; entries outside the inbox stay put."""
    if not (source.exists() and paths.in_inbox(source)):
        return None
    paths.processed.mkdir(parents=True, exist_ok=True)
    dest = unique_destination(paths.processed, source.name, dump_id)
    _move_with_manifest(source, dest)
    return dest


def unique_destination(directory: Path, name: str, dump_id: str | None) -> Path:
    """``name`` in ``directory``, or a variant tagged with the fingerprint, never overwriting."""
    candidate = directory / name
    if not _taken(candidate):
        return candidate
    stem, dot, suffix = name.partition(".")
    tag = fingerprint_prefix(dump_id) if dump_id else datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    for n in range(1000):
        extra = tag if n == 0 else f"{tag}-{n}"
        candidate = directory / (f"{stem}.{extra}{dot}{suffix}" if dot else f"{stem}.{extra}")
        if not _taken(candidate):
            return candidate
    raise FileExistsError(f"no free name for {name} in {directory}")


def _taken(path: Path) -> bool:
    return path.exists() or path.with_name(path.name + ".error.txt").exists()


def ingest_staged(
    staged: StagedDump,
    warehouse: Warehouse,
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
        if run.log is not None and not hasattr(batches, "direct_scan"):
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


#: Seconds between two progress lines in a run's log (``TG_PROGRESS_EVERY_S`` overrides).
PROGRESS_EVERY_S = 2.0
_progress_every_s = PROGRESS_EVERY_S


def use_progress_interval(every_s: float | None) -> None:
    """This process's interval between progress lines; ``None`` restores the default."""
    global _progress_every_s
    _progress_every_s = PROGRESS_EVERY_S if every_s is None else every_s


def reporting_progress(
    batches: Iterator[pa.RecordBatch],
    staged: StagedDump,
    log: Callable[[str], None],
    every_s: float | None = None,
) -> Iterator[pa.RecordBatch]:
    """Pass batches through, logging records and bytes read at most every ``every_s``.

    Bytes are those of every file before the one the latest record came from, plus what
    the reader noted of the file it is in (:mod:`tg_pipeline.readers.progress`): a single
    result.json moves as it is parsed, and HTML pages count page by page.
    """
    if every_s is None:
        every_s = _progress_every_s
    offsets: dict[str, int] = {}
    raw_offsets: dict[str, int] = {}
    before = 0
    for staged_file in staged.files:
        offsets[str(staged.display_base / staged_file.path)] = before
        raw_offsets[str(staged.root / staged_file.path)] = before
        before += staged_file.bytes
    for raw in raw_offsets:
        read_progress.forget(raw)
    total = staged.total_bytes
    rows = 0
    done = 0
    last = time.monotonic()
    for batch in batches:
        rows += batch.num_rows
        now = time.monotonic()
        if now - last >= every_s and batch.num_rows:
            last = now
            noted = ((start, read_progress.bytes_read(raw)) for raw, start in raw_offsets.items())
            in_file = max((start + n for start, n in noted if n), default=0)
            latest = batch.column("source_file")[-1].as_py() or ""
            at_file = raw_offsets.get(latest, offsets.get(latest, 0))
            done = min(max(done, at_file, in_file), total)
            log(f"dump {staged.dump_id}: {rows:,} records read, {done:,} of {total:,} bytes")
        yield batch
    for raw in raw_offsets:
        read_progress.forget(raw)
    log(f"dump {staged.dump_id}: {rows:,} records read, {total:,} of {total:,} bytes")


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
    warehouse: Warehouse,
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
