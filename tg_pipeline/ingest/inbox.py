"""The inbox: which entries are dumps, finding one by id, and moving entries out of it
to ``processed/`` or ``quarantine/``."""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tg_pipeline.errors import DumpError, TgPipelineError
from tg_pipeline.ingest.context import RunContext
from tg_pipeline.ingest.layout import DataPaths
from tg_pipeline.ingest.naming import dump_id_for, unique_destination
from tg_pipeline.readers import fingerprint_dump
from tg_pipeline.readers.backup import MANIFEST_SUFFIX, manifest_path

#: Names in the inbox that are never a dump: hidden files, our own reports, and the
#: temporary names browsers and copy tools use while a file is still arriving.
_IGNORED_SUFFIXES = (".error.txt", ".part", ".partial", ".crdownload", ".tmp", ".download")


class DumpNotFound(TgPipelineError):
    """A dump id names neither a raw copy nor an inbox entry."""


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


def _move_with_manifest(source: Path, dest: Path) -> None:
    """Move an inbox entry, and a backup's manifest beside it along with it."""
    sidecar = manifest_path(source)
    shutil.move(str(source), dest)
    if sidecar.is_file():
        shutil.move(str(sidecar), manifest_path(dest))


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
