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
before any record is read. The first 64 KiB are sniffed: a JSON that is not a Telegram
export is usually refused here, and the JSON reader refuses the rest.
"""

from __future__ import annotations

import codecs
import csv
import errno
import os
import re
import struct
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum, StrEnum
from pathlib import Path

import pyarrow as pa

from tg_pipeline.errors import DumpError
from tg_pipeline.readers.fingerprint import CHUNK_SIZE, FileDigest, combine, iter_chunks
from tg_pipeline.readers.safezip import SafeZip, ZipLimits
from tg_pipeline.records import FIELD_NAMES

SNIFF_BYTES = 64 * 1024

NOT_A_DUMP = "not a Telegram export or tg_pipeline backup"

#: The sidecar that ``tg_pipeline.warehouse.backup`` writes next to each backup file.
MANIFEST_SUFFIX = ".manifest.json"


class DumpKind(StrEnum):
    TELEGRAM_JSON = "telegram_json"
    TELEGRAM_HTML = "telegram_html"
    BACKUP_PARQUET = "backup_parquet"
    BACKUP_CSV = "backup_csv"


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


class Format(Enum):
    """The content format of one file; it decides the sniff and the dump kind."""

    JSON = "json"
    HTML = "html"
    PARQUET = "parquet"
    CSV = "csv"
    CSV_GZ = "csv.gz"

    @property
    def kind(self) -> DumpKind:
        return _KIND_OF[self]


_KIND_OF = {
    Format.JSON: DumpKind.TELEGRAM_JSON,
    Format.HTML: DumpKind.TELEGRAM_HTML,
    Format.PARQUET: DumpKind.BACKUP_PARQUET,
    Format.CSV: DumpKind.BACKUP_CSV,
    Format.CSV_GZ: DumpKind.BACKUP_CSV,
}
_TEXT_FORMATS = frozenset({Format.JSON, Format.HTML})

_PAGE_NAME = re.compile(r"^messages(\d*)\.html?$", re.IGNORECASE)
_JSON_NAME = "result.json"
#: The index page of a whole-account export in HTML; its chats lie in chats/chat_NNN/.
_ACCOUNT_INDEX = "export_results.html"
_IGNORED_DIRS = frozenset({"__macosx"})


def format_of_name(name: str) -> Format | None:
    low = name.lower()
    if low.endswith(".csv.gz"):
        return Format.CSV_GZ
    suffix = low.rsplit(".", 1)[-1] if "." in low else ""
    return {
        "json": Format.JSON,
        "html": Format.HTML,
        "htm": Format.HTML,
        "parquet": Format.PARQUET,
        "csv": Format.CSV,
    }.get(suffix)


def is_zip_name(name: str) -> bool:
    return name.lower().endswith(".zip")


def page_number(name: str) -> int | None:
    """1 for ``messages.html``, N for ``messagesN.html``, None for other names."""
    match = _PAGE_NAME.match(name)
    if match is None:
        return None
    return int(match.group(1)) if match.group(1) else 1


def _hidden(name: str) -> bool:
    return name.startswith(".") or name.lower() in _IGNORED_DIRS


# --- which files of a tree are the content --------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """The content files chosen in a folder or archive, as names relative to its top."""

    fmt: Format
    base: str
    names: tuple[str, ...]
    notes: tuple[str, ...] = ()
    #: Files that travel with the content without being part of it: a backup's manifest,
    #: which the backup reader checks the row count against.
    companions: tuple[str, ...] = ()


def _telegram_files(names: Iterable[str]) -> tuple[str | None, list[str]]:
    json_name: str | None = None
    pages: list[tuple[int, str]] = []
    for name in names:
        if name.lower() == _JSON_NAME:
            json_name = name
        elif (number := page_number(name)) is not None:
            pages.append((number, name))
    return json_name, [name for _, name in sorted(pages)]


def _choose(base: str, json_name: str | None, pages: list[str]) -> Selection:
    prefix = f"{base}/" if base else ""
    if json_name is not None:
        notes: tuple[str, ...] = ()
        if pages:
            notes = (
                f"{len(pages)} HTML page(s) next to {json_name} not read: the JSON export "
                "is preferred because it carries chat and user ids",
            )
        return Selection(Format.JSON, base, (prefix + json_name,), notes)
    return Selection(Format.HTML, base, tuple(prefix + p for p in pages))


def select_content(
    top_files: list[str],
    subfolders: Callable[[], dict[str, list[str]]],
    *,
    where: Path,
    what: str,
    account_files: Callable[[str], list[str]] | None = None,
) -> Selection:
    """Pick the content of a folder or archive; DumpError when there is none or too much.

    ``top_files`` are the file names at the top; ``subfolders`` lists, only when needed,
    the file names directly inside each subfolder (so a huge media folder is not listed
    when the export sits at the top). ``account_files`` lists, for a whole-account HTML
    export at a base folder, the files below it as paths relative to that base.
    """
    top_files = [n for n in top_files if not _hidden(n)]
    json_name, pages = _telegram_files(top_files)
    if json_name or pages:
        return _choose("", json_name, pages)
    if _is_account_index(top_files):
        return _account_selection(where, "", account_files)
    listing = {sub: names for sub, names in subfolders().items() if not _hidden(sub)}
    below = {sub: _telegram_files(names) for sub, names in listing.items()}
    found = {sub: hit for sub, hit in below.items() if hit[0] or hit[1]}
    accounts = sorted(sub for sub, names in listing.items() if _is_account_index(names))
    if not found and len(accounts) == 1:
        return _account_selection(where, accounts[0], account_files)
    if not found and accounts:
        listed = ", ".join(f"{sub}/" for sub in accounts)
        raise DumpError(
            f"the {what} holds several exports ({listed}); drop them one at a time", file=where
        )
    if len(found) == 1:
        ((sub, (json_name, pages)),) = found.items()
        return _choose(sub, json_name, pages)
    if len(found) > 1:
        listed = ", ".join(f"{sub}/" for sub in sorted(found))
        raise DumpError(
            f"the {what} holds several exports ({listed}); drop them one at a time",
            file=where,
        )
    singles = [
        n
        for n in top_files
        if format_of_name(n) is not None and not n.lower().endswith(MANIFEST_SUFFIX)
    ]
    if len(singles) == 1:
        (name,) = singles
        fmt = format_of_name(name)
        assert fmt is not None
        manifest = name + MANIFEST_SUFFIX
        backup = fmt not in _TEXT_FORMATS and manifest in top_files
        return Selection(fmt, "", (name,), companions=(manifest,) if backup else ())
    if len(singles) > 1:
        listed = ", ".join(sorted(singles)[:5])
        raise DumpError(
            f"{NOT_A_DUMP}: the {what} holds no result.json or messages*.html but several "
            f"other files ({listed}); drop one file at a time",
            file=where,
        )
    if not top_files and not below:
        raise DumpError(f"empty {what}: there is nothing to read", file=where)
    raise DumpError(
        f"{NOT_A_DUMP}: the {what} has no result.json or messages*.html at its top level "
        "or one level down",
        file=where,
    )


def _is_account_index(names: Iterable[str]) -> bool:
    return any(name.lower() == _ACCOUNT_INDEX for name in names)


def _account_selection(
    where: Path, base: str, account_files: Callable[[str], list[str]] | None
) -> Selection:
    """A whole-account HTML export: every chat's pages, plus ``lists/chats.html`` that
    names each chat and its type.

    tdesktop writes each chat into ``chats/chat_NNN/`` (``NNN`` zero-padded, so the names
    sort in export order) and links it from ``lists/chats.html``.
    """
    relative = account_files(base) if account_files is not None else []
    chats: dict[str, list[tuple[int, str]]] = {}
    listing: str | None = None
    for name in relative:
        parts = name.split("/")
        if any(_hidden(part) for part in parts):
            continue
        if len(parts) == 2 and parts[0] == "lists" and parts[1].lower() == "chats.html":
            listing = name
        elif len(parts) == 3 and parts[0] == "chats" and parts[1].startswith("chat_"):
            number = page_number(parts[2])
            if number is not None:
                chats.setdefault(parts[1], []).append((number, name))
    if not chats:
        raise DumpError(
            "a whole-account export in HTML with no chat pages (chats/chat_NNN/messages.html)",
            file=where,
        )
    prefix = f"{base}/" if base else ""
    names = [prefix + listing] if listing is not None else []
    for folder in sorted(chats, key=_natural):
        names.extend(prefix + name for _, name in sorted(chats[folder]))
    return Selection(Format.HTML, base, tuple(names))


def _natural(name: str) -> tuple[int, str]:
    digits = "".join(ch for ch in name if ch.isdigit())
    return (int(digits) if digits else 0, name)


# --- content checks ---------------------------------------------------------------------------

_JSON_KEYS = re.compile(
    rb'"(messages|chats|left_chats|personal_information|profile_pictures|contacts'
    rb'|frequent_contacts|other_data)"\s*:'
)
_JSON_NAME_KEY = re.compile(rb'"name"\s*:')
_JSON_TYPE_KEY = re.compile(rb'"type"\s*:')
_HISTORY = re.compile(rb"""class\s*=\s*["']?[^"'>]*\b(?:history|list_page)\b""", re.IGNORECASE)
_BOM = codecs.BOM_UTF8
_WHITESPACE = b" \t\r\n"


def _where(head: bytes, offset: int) -> str:
    line = head.count(b"\n", 0, offset) + 1
    return f"byte {offset} (line {line})"


def _first_byte(head: bytes) -> int:
    start = len(_BOM) if head.startswith(_BOM) else 0
    while start < len(head) and head[start] in _WHITESPACE:
        start += 1
    return start


def _shown(head: bytes, at: int) -> str:
    piece = head[at : at + 12]
    try:
        return repr(piece.decode("utf-8"))
    except UnicodeDecodeError:
        return repr(piece)


def _binary(head: bytes) -> bool:
    """Whether a file that does not start as it should is binary data rather than text.

    Only the wording of that error depends on it: a raw control character inside a real
    export is the JSON reader's to repair, not a reason to refuse the file here.
    """
    sample = head[:4096]
    sample = sample[: len(sample) - incomplete_tail(sample)]
    return b"\0" in sample or utf8_error(sample) is not None


def _unexpected_start(head: bytes, start: int, what: str, first: str) -> DumpError:
    if _binary(head):
        return DumpError(
            f"{NOT_A_DUMP}: binary data where {what} text should be", position=_where(head, start)
        )
    return DumpError(
        f"{NOT_A_DUMP}: a Telegram {what} file starts with {first!r}, but this starts with "
        f"{_shown(head, start)}",
        position=_where(head, start),
    )


def sniff_json(head: bytes, complete: bool) -> None:
    start = _first_byte(head)
    if start >= len(head):
        if complete:
            raise DumpError(f"{NOT_A_DUMP}: the JSON file is empty", position="byte 0")
        raise DumpError(
            f"{NOT_A_DUMP}: only whitespace in the first 64 KiB", position="bytes 0-65535"
        )
    if head[start] != ord("{"):
        raise _unexpected_start(head, start, "JSON", "{")
    if _JSON_KEYS.search(head) or (_JSON_NAME_KEY.search(head) and _JSON_TYPE_KEY.search(head)):
        return
    span = "the file" if complete else "the first 64 KiB"
    raise DumpError(
        f"{NOT_A_DUMP}: a JSON object, but {span} has none of the keys a Telegram export "
        'starts with ("messages", "chats", "name" and "type", …)',
        position=f"bytes 0-{len(head) - 1}",
    )


def sniff_html(head: bytes, complete: bool) -> None:
    start = _first_byte(head)
    if start >= len(head):
        raise DumpError(f"{NOT_A_DUMP}: the HTML page is empty", position="byte 0")
    if head[start] != ord("<"):
        raise _unexpected_start(head, start, "HTML", "<")
    if _HISTORY.search(head):
        return
    span = "the page" if complete else "the first 64 KiB of the page"
    raise DumpError(
        f'{NOT_A_DUMP}: no message history (<div class="history">) in {span}',
        position=f"bytes 0-{len(head) - 1}",
    )


def sniff_parquet(head: bytes, complete: bool) -> None:
    if not head.startswith(b"PAR1"):
        raise DumpError(f"{NOT_A_DUMP}: not a Parquet file (no PAR1 magic)", position="byte 0")


def _check_csv_header(first: bytes, position: str) -> None:
    if first.startswith(_BOM):
        first = first[len(_BOM) :]
    try:
        header = next(csv.reader([first.rstrip(b"\r\n").decode("utf-8")]), [])
    except (UnicodeDecodeError, csv.Error):
        header = []
    if tuple(header) != FIELD_NAMES:
        raise DumpError(
            f"{NOT_A_DUMP}: the CSV header is not tg_pipeline's columns "
            f"({','.join(FIELD_NAMES[:3])},…)",
            position=position,
        )


def sniff_csv(head: bytes, complete: bool) -> None:
    if _binary(head):
        raise DumpError(f"{NOT_A_DUMP}: binary data where CSV text should be", position="byte 0")
    end = head.find(b"\n")
    if end < 0 and not complete:
        raise DumpError(f"{NOT_A_DUMP}: no CSV header line in the first 64 KiB", position="line 1")
    _check_csv_header(head if end < 0 else head[:end], "line 1")


def sniff_csv_gz(head: bytes, complete: bool) -> None:
    if not head.startswith(b"\x1f\x8b"):
        raise DumpError(f"{NOT_A_DUMP}: not gzip data (no 1f 8b magic)", position="byte 0")
    try:
        text = zlib.decompressobj(wbits=31).decompress(head, SNIFF_BYTES)
    except zlib.error as exc:
        raise DumpError(f"corrupt gzip data: {exc}", position="byte 0") from None
    end = text.find(b"\n")
    _check_csv_header(text if end < 0 else text[:end], "line 1 (decompressed)")


_SNIFFERS: dict[Format, Callable[[bytes, bool], None]] = {
    Format.JSON: sniff_json,
    Format.HTML: sniff_html,
    Format.PARQUET: sniff_parquet,
    Format.CSV: sniff_csv,
    Format.CSV_GZ: sniff_csv_gz,
}


def format_of_content(head: bytes) -> Format | None:
    """The format a file's first bytes announce, for files with no known extension."""
    if head.startswith(b"PAR1"):
        return Format.PARQUET
    if head.startswith(b"\x1f\x8b"):
        return Format.CSV_GZ
    start = _first_byte(head)
    if start < len(head) and b"\0" not in head:
        if head[start] == ord("{"):
            return Format.JSON
        if head[start] == ord("<"):
            return Format.HTML
        try:
            sniff_csv(head, True)
        except DumpError:
            return None
        return Format.CSV
    return None


def utf8_error(data: bytes) -> tuple[int, str] | None:
    """Index and reason of the first invalid UTF-8 byte in ``data``, or None when valid.

    Arrow's validator runs at several GB/s, about ten times Python's decoder on Cyrillic
    text; the decoder is asked only to place an error once Arrow has found one.
    """
    offsets = pa.py_buffer(struct.pack("<qq", 0, len(data)))
    array = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(data)])
    try:
        array.validate(full=True)
    except pa.ArrowInvalid:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            return exc.start, exc.reason
    return None


def incomplete_tail(data: bytes) -> int:
    """How many bytes at the end of ``data`` start a character that continues later."""
    end = len(data)
    for back in range(1, min(4, end) + 1):
        byte = data[end - back]
        if byte & 0xC0 == 0x80:
            continue
        need = 4 if byte >= 0xF0 else 3 if byte >= 0xE0 else 2 if byte >= 0xC0 else 1
        return back if back < need else 0
    return 0


class ContentCheck:
    """Watches one content file stream past: fingerprint, sniff, and UTF-8 validity.

    Sniffing happens as soon as 64 KiB have arrived, so a 50 MB file of garbage is refused
    after its first chunk. Errors name the byte offset and line. Given ``reread`` (the
    same bytes again from the start), lines are counted only once an error needs one:
    counting every newline of a large export costs as much as validating it. A stream
    that cannot be read twice (a zip member) counts them as it goes.

    A large file is hashed on a second thread: use the check as a context manager, or
    call :meth:`close`, so that thread ends on every path.
    """

    def __init__(
        self,
        fmt: Format,
        display: str,
        *,
        reread: Callable[[], Iterable[bytes]] | None = None,
    ) -> None:
        self.fmt = fmt
        self.display = display
        self.digest = FileDigest(background=True)
        self._head = bytearray()
        self._sniffed = False
        self._text = fmt in _TEXT_FORMATS
        self._carry = b""
        self._reread = reread
        self._lines = 0
        self._tail = b""

    def __enter__(self) -> ContentCheck:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.digest.close()

    def feed(self, chunk: bytes) -> None:
        if not self._sniffed:
            self._head += chunk[: SNIFF_BYTES - len(self._head)]
            if len(self._head) >= SNIFF_BYTES:
                self._sniff(complete=False)
        if self._text:
            self._validate(chunk)
        if self.fmt is Format.PARQUET:
            self._tail = (self._tail + chunk[-4:])[-4:]
        self.digest.update(chunk)

    def _sniff(self, complete: bool) -> None:
        self._sniffed = True
        sniff_content(self.fmt, bytes(self._head), complete, self.display)
        self._head = bytearray()

    def _validate(self, chunk: bytes) -> None:
        """Check complete characters now; carry a character cut by the chunk end over."""
        if not self._carry and chunk.isascii():
            if self._reread is None:
                self._lines += chunk.count(b"\n")
            return
        data = self._carry + chunk if self._carry else chunk
        cut = incomplete_tail(data)
        whole = data[: len(data) - cut] if cut else data
        error = utf8_error(whole)
        if error is not None:
            if not self._sniffed:
                # A file that is not an export at all says so before its bytes are judged.
                self._sniff(complete=False)
            at, reason = error
            offset = self.digest.size - len(self._carry) + at
            if self._reread is None:
                line = self._lines + whole.count(b"\n", 0, at) + 1
                where = f"byte {offset} (line {line})"
            else:
                where = _place(offset, self._reread)
            raise DumpError(
                f"invalid UTF-8 ({reason}); Telegram exports are UTF-8 text",
                file=self.display,
                position=where,
            )
        self._carry = data[len(data) - cut :] if cut else b""
        if self._reread is None:
            self._lines += chunk.count(b"\n")

    def finish(self) -> FileDigest:
        if not self._sniffed:
            self._sniff(complete=True)
        if self._carry:
            raise DumpError(
                "invalid UTF-8: the file ends inside a character; it may be truncated",
                file=self.display,
                position=f"byte {self.digest.size - len(self._carry)} (end of file)",
            )
        if self.fmt is Format.PARQUET and (self.digest.size < 12 or self._tail != b"PAR1"):
            raise DumpError(
                "truncated Parquet file: no PAR1 footer",
                file=self.display,
                position=f"byte {max(0, self.digest.size - 4)}",
            )
        return self.digest


def sniff_content(fmt: Format, head: bytes, complete: bool, display: str) -> None:
    """Refuse ``head`` when it cannot start a file of ``fmt``; the error names ``display``."""
    try:
        _SNIFFERS[fmt](head, complete)
    except DumpError as err:
        raise DumpError(err.message, file=display, position=err.position) from None


def _place(offset: int, reread: Callable[[], Iterable[bytes]]) -> str:
    """``byte N (line L)`` for an error at ``offset``, counting lines in a second read."""
    lines = 0
    seen = 0
    try:
        for chunk in reread():
            if seen + len(chunk) >= offset:
                lines += chunk.count(b"\n", 0, offset - seen)
                break
            lines += chunk.count(b"\n")
            seen += len(chunk)
    except OSError:
        return f"byte {offset}"
    return f"byte {offset} (line {lines + 1})"


def check_file(path: Path, fmt: Format, display: str | None = None) -> FileDigest:
    with ContentCheck(fmt, display or str(path), reread=lambda: iter_chunks(path)) as check:
        try:
            for chunk in iter_chunks(path):
                check.feed(chunk)
        except OSError as exc:
            raise _unreadable(path, exc) from None
        return check.finish()


# --- opening a dump ---------------------------------------------------------------------------


def _read_head(path: Path) -> bytes:
    try:
        with path.open("rb") as fh:
            return fh.read(SNIFF_BYTES)
    except OSError as exc:
        raise _unreadable(path, exc) from None


def _is_zip(path: Path) -> bool:
    if not path.is_file():
        return False
    if is_zip_name(path.name):
        return True
    return format_of_name(path.name) is None and _read_head(path)[:4] in (
        b"PK\x03\x04",
        b"PK\x05\x06",
    )


def _local_selection(path: Path) -> tuple[Path, Selection]:
    """The content of a folder or bare file on disk: (tree root, selection)."""
    if path.is_dir():
        try:
            entries = sorted(path.iterdir())
        except OSError as exc:
            raise DumpError(f"cannot list the folder: {exc.strerror or exc}", file=path) from None
        top = [e.name for e in entries if e.is_file()]

        def subfolders() -> dict[str, list[str]]:
            listing: dict[str, list[str]] = {}
            for entry in entries:
                if entry.is_dir() and not _hidden(entry.name):
                    try:
                        listing[entry.name] = [e.name for e in entry.iterdir() if e.is_file()]
                    except OSError:
                        continue
            return listing

        def account_files(base: str) -> list[str]:
            root = path / base if base else path
            found: list[str] = []
            lists = root / "lists" / "chats.html"
            if lists.is_file():
                found.append("lists/chats.html")
            try:
                folders = sorted(e for e in (root / "chats").iterdir() if e.is_dir())
                for folder in folders:
                    found.extend(
                        f"chats/{folder.name}/{e.name}" for e in folder.iterdir() if e.is_file()
                    )
            except OSError:
                pass
            return found

        visible = [e for e in entries if not _hidden(e.name)]
        if not visible:
            raise DumpError("empty folder: there is nothing to read", file=path)
        return path, select_content(
            top, subfolders, where=path, what="folder", account_files=account_files
        )
    if path.is_file():
        fmt = format_of_name(path.name)
        if fmt is None:
            fmt = format_of_content(_read_head(path))
        if fmt is None:
            raise DumpError(
                f"{NOT_A_DUMP}: expected a folder, result.json, messages*.html, .zip, "
                ".parquet, .csv or .csv.gz",
                file=path,
                position="byte 0",
            )
        return path.parent, Selection(fmt, "", (path.name,))
    if path.exists():
        raise DumpError(f"{NOT_A_DUMP}: neither a file nor a folder", file=path)
    raise DumpError("no such file or folder", file=path)


def _zip_selection(archive: SafeZip) -> Selection:
    names = [n for n in archive.file_names if not any(_hidden(p) for p in n.split("/"))]
    if not names:
        raise DumpError("empty zip archive: there is nothing to read", file=archive.path)
    top = [n for n in names if "/" not in n]

    def subfolders() -> dict[str, list[str]]:
        listing: dict[str, list[str]] = {}
        for name in names:
            parts = name.split("/")
            if len(parts) == 2:
                listing.setdefault(parts[0], []).append(parts[1])
        return listing

    def account_files(base: str) -> list[str]:
        prefix = f"{base}/" if base else ""
        return [n[len(prefix) :] for n in names if n.startswith(prefix)]

    return select_content(
        top, subfolders, where=archive.path, what="zip archive", account_files=account_files
    )


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

    A raw copy made this way reads every byte once. Fingerprinting first and copying
    afterwards reads a large export twice, which was most of the time staging took.
    The returned dump describes the source, as :func:`open_dump` would.

    With ``link``, a file that no other name refers to is hard-linked into ``dest``
    instead of copied (see :func:`_check_and_copy`). Only the caller knows whether the
    files are its own to keep: an inbox entry is, a path named on a command line is not.
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
    tree, selection = _local_selection(source)
    files = tuple(tree.joinpath(*name.split("/")) for name in selection.names)
    if copy_to is None:
        digests = [check_file(f, selection.fmt) for f in files]
    else:
        digests = [
            _check_and_copy(f, copy_to.joinpath(*name.split("/")), selection.fmt, link=link)
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


def _check_and_copy(path: Path, target: Path, fmt: Format, *, link: bool = False) -> FileDigest:
    """:func:`check_file` that also leaves the bytes it checked at ``target``.

    The kernel copies the file on a second thread while this one checks and hashes it, so
    no byte passes through Python twice (copying a large export through Python's buffers
    cost more than checking it) and staging takes the longer of the two, not their sum.
    The source's size and modification time must be the same after both as before, so
    the fingerprint describes the bytes kept; a file still being written is refused. Its
    head is sniffed first: a file of the wrong kind is refused before anything is copied.

    With ``link``, a file of ours with no other name is hard-linked to ``target`` instead:
    the bytes are then written once, not twice, which for a large export is most of what
    staging costs, and half the disk it takes. A file someone else still reaches by
    another name, owns, or keeps on another file system is copied as before.

    Only a failure to read the source is the dump's fault (a DumpError); one writing the
    copy (a full disk) is raised as it is, so the dump is not quarantined for it.
    """
    display = str(path)
    try:
        source = path.open("rb")
    except OSError as exc:
        raise _unreadable(path, exc) from None
    with source:
        try:
            before = os.fstat(source.fileno())
            head = source.read(SNIFF_BYTES)
        except OSError as exc:
            raise _unreadable(path, exc) from None
        sniff_content(fmt, head, len(head) < SNIFF_BYTES, display)
        target.parent.mkdir(parents=True, exist_ok=True)
        if link and _ours_alone(before) and _hard_link(path, target):
            digest = check_file(path, fmt, display)
            copied = os.stat(target).st_size
        else:
            with target.open("xb") as out:
                copy = _CopyThread(source.fileno(), out.fileno(), path)
                try:
                    digest = check_file(path, fmt, display)
                except BaseException:
                    # The dump's own error wins over whatever the copy ran into meanwhile.
                    copy.finish(cancel=True)
                    raise
                copy.finish()
                copied = os.fstat(out.fileno()).st_size
        try:
            after = os.stat(path)
        except OSError as exc:
            raise _unreadable(path, exc) from None
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns) or not (
        digest.size == copied == after.st_size
    ):
        raise DumpError(
            "the file changed while it was being copied; drop it again once it is complete",
            file=path,
        )
    return digest


def _ours_alone(info: os.stat_result) -> bool:
    """Whether a file may become the raw copy: no other name reaches it, and this process
    owns it, so it can seal it read-only."""
    return info.st_nlink == 1 and info.st_uid == os.geteuid()


def _hard_link(path: Path, target: Path) -> bool:
    """Whether ``target`` now names ``path``'s bytes; False where a link cannot be made
    (another file system, a file system without links), so the caller copies instead."""
    try:
        os.link(path, target)
    except OSError:
        return False
    return True


class _CopyThread:
    """:func:`copy_file_bytes` on a thread of its own; :meth:`finish` waits for it and
    raises what it raised. ``copy_file_range`` releases the GIL for the whole copy."""

    def __init__(self, source_fd: int, target_fd: int, path: Path) -> None:
        self._failure: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(source_fd, target_fd, path), name="tg-raw-copy"
        )
        self._thread.start()

    def _run(self, source_fd: int, target_fd: int, path: Path) -> None:
        try:
            copy_file_bytes(source_fd, target_fd, path, stop=self._stop)
        except BaseException as exc:
            self._failure = exc

    def finish(self, *, cancel: bool = False) -> None:
        """Wait for the copy; with ``cancel``, stop it early and keep quiet about it."""
        if cancel:
            self._stop.set()
        self._thread.join()
        if self._failure is not None and not cancel:
            raise self._failure


#: errno values that say the kernel cannot copy between these two files; the bytes then go
#: through a buffer instead.
_NO_KERNEL_COPY = frozenset(
    {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EBADF}
)
#: Bytes per kernel copy call: a copy asked to stop does so within one step.
_COPY_STEP = 64 << 20
#: errno values that are the destination's fault (the warehouse's disk), not the dump's.
_WRITE_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


def copy_file_bytes(
    source_fd: int, target_fd: int, path: Path, *, stop: threading.Event | None = None
) -> None:
    """Copy the whole file behind ``source_fd`` to ``target_fd``, in the kernel where it can.

    ``copy_file_range`` never brings the bytes into this process (and clones them on file
    systems that can). A file system that refuses it, or ends the copy short of the size
    the file had (some pseudo and network file systems do), gets the rest through a
    buffer. Read errors raise DumpError naming ``path``; write errors are raised as they are.
    Once ``stop`` is set the copy ends early, between two steps of :data:`_COPY_STEP`.
    """
    size = os.fstat(source_fd).st_size
    done = 0
    kernel = hasattr(os, "copy_file_range")
    while kernel:
        if stop is not None and stop.is_set():
            return
        try:
            copied = os.copy_file_range(source_fd, target_fd, _COPY_STEP, done)
        except OSError as exc:
            if exc.errno in _NO_KERNEL_COPY and done == 0:
                break
            if exc.errno in _WRITE_ERRORS:
                raise
            raise _unreadable(path, exc) from None
        if copied == 0:
            if done >= size:
                return
            break
        done += copied
    os.lseek(target_fd, done, os.SEEK_SET)
    while stop is None or not stop.is_set():
        try:
            chunk = os.pread(source_fd, CHUNK_SIZE, done)
        except OSError as exc:
            raise _unreadable(path, exc) from None
        if not chunk:
            return
        view = memoryview(chunk)
        while view:
            view = view[os.write(target_fd, view) :]
        done += len(chunk)


def _unreadable(path: Path, exc: OSError) -> DumpError:
    return DumpError(f"cannot read the file: {exc.strerror or exc}", file=path)


def _inspect_zip(
    source: Path, limits: ZipLimits | None, extract_to: Path | None, *, companions: bool = True
) -> Dump:
    """Check, fingerprint and (when ``extract_to`` is given) extract a zip's content, and
    with ``companions`` the files read beside it (a backup's manifest)."""
    digests: list[FileDigest] = []
    with SafeZip(source, limits) as archive:
        selection = _zip_selection(archive)
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
