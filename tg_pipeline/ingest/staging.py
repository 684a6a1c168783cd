"""Staging: a dump's immutable raw copy under ``raw/<dump_id>/`` and its manifest."""

from __future__ import annotations

import glob
import json
import shutil
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tg_pipeline.errors import DumpError, TgPipelineError
from tg_pipeline.ingest.layout import DataPaths
from tg_pipeline.ingest.naming import dump_id_for, fingerprint_prefix
from tg_pipeline.readers import Dump, DumpKind, copy_dump, fingerprint_dump
from tg_pipeline.readers.backup import manifest_path
from tg_pipeline.warehouse import DumpRecord

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1


class DuplicateDump(TgPipelineError):
    """The content of an inbox entry was registered before, as dump ``original``."""

    def __init__(self, dump_id: str, original: str, source: Path) -> None:
        self.dump_id = dump_id
        self.original = original
        self.source = source
        super().__init__(f"{source.name}: same content as dump {original}; not ingested again")


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
