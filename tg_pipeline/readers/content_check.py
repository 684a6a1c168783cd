"""Checking a content file as it streams past: fingerprint, sniff and UTF-8 validity,
with errors that name the byte offset and line.

Imports only the other detection modules of the readers package.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from tg_pipeline.errors import DumpError
from tg_pipeline.readers.fingerprint import FileDigest, iter_chunks
from tg_pipeline.readers.formats import TEXT_FORMATS, Format
from tg_pipeline.readers.sniff import SNIFF_BYTES, sniff_content
from tg_pipeline.readers.utf8 import incomplete_tail, utf8_error


def unreadable(path: Path, exc: OSError) -> DumpError:
    return DumpError(f"cannot read the file: {exc.strerror or exc}", file=path)


def read_head(path: Path) -> bytes:
    """The first bytes of a file, as many as a sniff looks at."""
    try:
        with path.open("rb") as fh:
            return fh.read(SNIFF_BYTES)
    except OSError as exc:
        raise unreadable(path, exc) from None


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
        self._text = fmt in TEXT_FORMATS
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
            raise unreadable(path, exc) from None
        return check.finish()
