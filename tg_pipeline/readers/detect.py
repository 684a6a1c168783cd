"""What a dropped path is: which kind of dump, and which of its files hold the content.

A dump is recognised from file names and file content, never from the name of the folder
it sits in:

- **Export folder**: ``result.json`` and/or ``messages*.html`` pages at the folder's top
  level, or else in exactly one subfolder one level down (a folder that holds the
  ``ChatExport_…`` folder). When both JSON and HTML are there, the JSON is read: it carries
  chat and user ids that HTML lacks. The skipped pages are counted in :attr:`Dump.notes`.
  Media folders are never read.
- **Whole-account HTML export**: ``export_results.html`` at the top (or one level down),
  read as ``lists/chats.html`` and every ``chats/chat_NNN/messages*.html``.
- **Bare file**: any ``*.json`` whose first bytes look like a Telegram export, any
  ``*.html`` page with a Telegram message history, or a tg_pipeline backup: ``.parquet``
  (``PAR1`` magic at both ends), ``.csv`` or ``.csv.gz`` (header = the record's columns).
  A file with no known extension is recognised from its first bytes alone. A folder or zip
  holding no export but exactly one such file (a backup's ``.manifest.json`` aside) is
  read as that file.
- **Zip**: of an export folder or of one bare file; see :mod:`tg_pipeline.readers.safezip`.
  Only the content files are extracted, into a temporary folder that lives as long as the
  :func:`open_dump` context.

Every content file is read once in full when the dump is opened: to fingerprint it and to
check that JSON and HTML are valid UTF-8, so a bad byte is reported with its position
before any record is read (:mod:`.content_check`). The first 64 KiB are sniffed
(:mod:`.sniff`): a JSON that is not a Telegram export is usually refused here, and the
JSON reader refuses the rest. Which files are the content is :mod:`.selection`'s to say;
the raw copy made while checking is :mod:`.copying`'s.

This module holds the entry points and the zip glue; it imports only the other detection
modules of the readers package.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tg_pipeline.readers.content_check import ContentCheck, check_file, read_head
from tg_pipeline.readers.copying import check_and_copy
from tg_pipeline.readers.fingerprint import FileDigest, combine
from tg_pipeline.readers.formats import DumpKind, format_of_name, is_zip_name
from tg_pipeline.readers.safezip import SafeZip, ZipLimits
from tg_pipeline.readers.selection import local_selection, zip_selection


@dataclass(frozen=True)
class Dump:
    """A detected dump whose content files are on disk and fingerprinted."""

    source: Path
    root: Path
    kind: DumpKind
    files: tuple[Path, ...]
    fingerprint: str
    total_bytes: int
    #: What detection decided that a user may not expect, e.g. HTML pages skipped for JSON.
    notes: tuple[str, ...] = ()
    #: The temporary folder a ``.zip`` was extracted into; None for folders and files.
    extracted_to: Path | None = None
    #: Each content file's name relative to the dump (as inside the zip or folder, or the
    #: bare file's own name) and its digest, in the order of ``files``.
    names: tuple[str, ...] = ()
    digests: tuple[FileDigest, ...] = ()
    #: Whether records name a zip's files as inside the zip (``source``) rather than where
    #: they were read from; a staged raw copy keeps its own paths as the records' provenance.
    relabel_records: bool = True

    def display_path(self, path: str | Path) -> str:
        """How to name a content file to a user: inside the zip, not in a temp folder."""
        text = str(path)
        if self.extracted_to is not None:
            prefix = str(self.extracted_to)
            if text == prefix or text.startswith(prefix + "/"):
                return str(self.source) + text[len(prefix) :]
        return text


@contextmanager
def open_dump(path: str | Path, *, limits: ZipLimits | None = None) -> Iterator[Dump]:
    """Detect ``path``, check and fingerprint its content, and yield it as a :class:`Dump`.

    Raises DumpError naming the file (and position) when ``path`` is not a readable dump.
    For a ``.zip`` the content files are extracted first and removed when the context ends.
    """
    source = Path(path)
    if _is_zip(source):
        with tempfile.TemporaryDirectory(
            prefix="tg_pipeline-zip-", ignore_cleanup_errors=True
        ) as tmp:
            yield _inspect_zip(source, limits, Path(tmp))
        return
    yield _inspect_local(source)


def copy_dump(
    path: str | Path, dest: Path, *, limits: ZipLimits | None = None, link: bool = False
) -> Dump:
    """Detect ``path`` and write its content files under ``dest`` as they are checked and
    fingerprinted; ``dest`` then holds exactly those files, under :attr:`Dump.names`.

    A raw copy made this way reads every byte once; fingerprinting first and copying
    afterwards would read a large export twice. The returned dump describes the source,
    as :func:`open_dump` would.

    With ``link``, a file that no other name refers to is hard-linked into ``dest``
    instead of copied (see :func:`.copying.check_and_copy`). Only the caller knows whether
    the files are its own to keep: an inbox entry is, a path named on a command line is not.
    """
    source = Path(path)
    if _is_zip(source):
        return _inspect_zip(source, limits, dest, companions=False)
    return _inspect_local(source, copy_to=dest, link=link)


def fingerprint_dump(path: str | Path, *, limits: ZipLimits | None = None) -> str:
    """The fingerprint :func:`open_dump` would give, without extracting a ``.zip`` to disk.

    It runs the same checks, so it raises the same DumpError for a path that is not a dump.
    """
    source = Path(path)
    if _is_zip(source):
        return _inspect_zip(source, limits, None).fingerprint
    return _inspect_local(source).fingerprint


def _inspect_local(source: Path, copy_to: Path | None = None, *, link: bool = False) -> Dump:
    tree, selection = local_selection(source)
    files = tuple(tree.joinpath(*name.split("/")) for name in selection.names)
    if copy_to is None:
        digests = [check_file(f, selection.fmt) for f in files]
    else:
        digests = [
            check_and_copy(f, copy_to.joinpath(*name.split("/")), selection.fmt, link=link)
            for f, name in zip(files, selection.names, strict=True)
        ]
    return Dump(
        source=source,
        root=tree / selection.base if selection.base else tree,
        kind=selection.fmt.kind,
        files=files,
        fingerprint=combine(digests),
        total_bytes=sum(d.size for d in digests),
        notes=selection.notes,
        names=selection.names,
        digests=tuple(digests),
    )


def _is_zip(path: Path) -> bool:
    if not path.is_file():
        return False
    if is_zip_name(path.name):
        return True
    return format_of_name(path.name) is None and read_head(path)[:4] in (
        b"PK\x03\x04",
        b"PK\x05\x06",
    )


def _inspect_zip(
    source: Path, limits: ZipLimits | None, extract_to: Path | None, *, companions: bool = True
) -> Dump:
    """Check, fingerprint and (when ``extract_to`` is given) extract a zip's content, and
    with ``companions`` the files read beside it (a backup's manifest)."""
    digests: list[FileDigest] = []
    with SafeZip(source, limits) as archive:
        selection = zip_selection(archive)
        for name, chunks in archive.iter_members(selection.names):
            with ContentCheck(selection.fmt, f"{source}/{name}") as check:
                if extract_to is None:
                    for chunk in chunks:
                        check.feed(chunk)
                else:
                    target = extract_to.joinpath(*name.split("/"))
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with target.open("xb") as out:
                        for chunk in chunks:
                            check.feed(chunk)
                            out.write(chunk)
                digests.append(check.finish())
        if extract_to is not None and companions and selection.companions:
            for name, chunks in archive.iter_members(selection.companions):
                target = extract_to.joinpath(*name.split("/"))
                with target.open("xb") as out:
                    for chunk in chunks:
                        out.write(chunk)
    tree = extract_to if extract_to is not None else source
    return Dump(
        source=source,
        root=tree.joinpath(*selection.base.split("/")) if selection.base else tree,
        kind=selection.fmt.kind,
        files=tuple(tree.joinpath(*name.split("/")) for name in selection.names),
        fingerprint=combine(digests),
        total_bytes=sum(d.size for d in digests),
        notes=selection.notes,
        extracted_to=extract_to,
        names=selection.names,
        digests=tuple(digests),
    )
