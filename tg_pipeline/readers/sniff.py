"""Sniffing: whether the first 64 KiB of a file can start a file of the format it claims.

A JSON that is not a Telegram export is usually refused here, from its first keys; the
JSON reader refuses the rest. Also tells the format of a file with no known extension.
Imports only the readers' format and UTF-8 helpers and the record schema.
"""

from __future__ import annotations

import codecs
import csv
import re
import zlib
from collections.abc import Callable

from tg_pipeline.errors import DumpError
from tg_pipeline.readers.formats import NOT_A_DUMP, Format
from tg_pipeline.readers.utf8 import incomplete_tail, utf8_error
from tg_pipeline.records import FIELD_NAMES

SNIFF_BYTES = 64 * 1024

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


def sniff_content(fmt: Format, head: bytes, complete: bool, display: str) -> None:
    """Refuse ``head`` when it cannot start a file of ``fmt``; the error names ``display``."""
    try:
        _SNIFFERS[fmt](head, complete)
    except DumpError as err:
        raise DumpError(err.message, file=display, position=err.position) from None
