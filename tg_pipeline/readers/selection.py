"""Which files of a folder, archive or bare file are a dump's content, from names alone
(and, for a file with no known extension, its first bytes).

Imports only the other detection modules of the readers package and the zip reader.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from tg_pipeline.errors import DumpError
from tg_pipeline.readers.content_check import read_head
from tg_pipeline.readers.formats import (
    MANIFEST_SUFFIX,
    NOT_A_DUMP,
    TEXT_FORMATS,
    Format,
    format_of_name,
)
from tg_pipeline.readers.safezip import SafeZip
from tg_pipeline.readers.sniff import format_of_content

_PAGE_NAME = re.compile(r"^messages(\d*)\.html?$", re.IGNORECASE)
_JSON_NAME = "result.json"
#: The index page of a whole-account export in HTML; its chats lie in chats/chat_NNN/.
_ACCOUNT_INDEX = "export_results.html"
_IGNORED_DIRS = frozenset({"__macosx"})


def page_number(name: str) -> int | None:
    """1 for ``messages.html``, N for ``messagesN.html``, None for other names."""
    match = _PAGE_NAME.match(name)
    if match is None:
        return None
    return int(match.group(1)) if match.group(1) else 1


def _hidden(name: str) -> bool:
    return name.startswith(".") or name.lower() in _IGNORED_DIRS


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
        backup = fmt not in TEXT_FORMATS and manifest in top_files
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


def local_selection(path: Path) -> tuple[Path, Selection]:
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
            fmt = format_of_content(read_head(path))
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


def zip_selection(archive: SafeZip) -> Selection:
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
