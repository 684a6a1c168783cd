"""Reading a ``.zip`` dump without trusting it.

A zip in the inbox may come from anyone, so every member is checked before a byte is
written: no path that leaves the extraction folder (``..``, absolute or drive paths), no
symlinks, no encryption, no more than :data:`MAX_MEMBERS` entries. Only the members a dump
needs are ever decompressed, and they are decompressed in bounded chunks while the bytes
actually produced are counted: a member that expands past the size limit or past a sane
compression ratio is abandoned at that point, whatever its header claims.

Limits are module constants; an entry point sets the process's own once with
:func:`use_limits` (from ``TG_ZIP_MAX_TOTAL_BYTES``, ``TG_ZIP_MAX_RATIO`` and
``TG_ZIP_MAX_MEMBERS``), and a caller may pass others to :class:`SafeZip`.
"""

from __future__ import annotations

import lzma
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from tg_pipeline.errors import DumpError

#: Bytes all needed members may expand to, together. Real exports stay far below this.
MAX_TOTAL_BYTES = 8 * 1024**3
#: Uncompressed:compressed ratio past which a member is treated as a zip bomb. Telegram's
#: JSON and HTML deflate at roughly 5-30:1; 1 GB of zeros deflates at about 1000:1.
MAX_RATIO = 200
#: Entries in the archive, media included. The central directory is parsed into memory.
MAX_MEMBERS = 100_000
#: Members smaller than this may compress arbitrarily well without being suspicious.
RATIO_FLOOR = 1 << 20
#: Average central-directory bytes allowed per permitted member (names plus extra fields).
_DIRECTORY_BYTES_PER_MEMBER = 1024

CHUNK_SIZE = 1 << 20

_SUPPORTED_METHODS = {
    zipfile.ZIP_STORED: "stored",
    zipfile.ZIP_DEFLATED: "deflate",
    zipfile.ZIP_BZIP2: "bzip2",
    zipfile.ZIP_LZMA: "lzma",
}
_EOCD = b"PK\x05\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_EOCD64 = b"PK\x06\x06"
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class ZipLimits:
    max_total_bytes: int = MAX_TOTAL_BYTES
    max_ratio: float = MAX_RATIO
    max_members: int = MAX_MEMBERS


_limits = ZipLimits()


def use_limits(limits: ZipLimits) -> None:
    """The limits of every archive this process opens without limits of its own."""
    global _limits
    _limits = limits


def _end_record(tail: bytes) -> int:
    """Offset of the end-of-central-directory record in the file's tail, or -1.

    Preferably the record whose comment length reaches exactly to the end of the file, so
    a signature that merely appears inside the archive comment is skipped; otherwise the
    last signature, as zipfile itself reads an archive with bytes appended.
    """
    last = -1
    at = tail.rfind(_EOCD)
    while at >= 0:
        if len(tail) - at >= 22:
            (comment,) = struct.unpack_from("<H", tail, at + 20)
            if at + 22 + comment == len(tail):
                return at
            if last < 0:
                last = at
        at = tail.rfind(_EOCD, 0, at)
    return last


def normalize_member_name(raw: str) -> str:
    """The member's relative POSIX path, or DumpError when it could land outside the folder.

    Backslashes count as separators: old Windows tools write them, and ``..\\x`` must not
    slip through as a harmless file name.
    """
    name = raw.replace("\\", "/")
    if name.startswith("/") or _DRIVE.match(name):
        raise DumpError(
            "unsafe zip member: absolute path; refusing the archive",
            position=f"member {raw!r}",
        )
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise DumpError(
            "unsafe zip member: its path leaves the archive ('..'); refusing the archive",
            position=f"member {raw!r}",
        )
    return "/".join(parts)


class SafeZip:
    """An archive whose every member passed the safety checks; use as a context manager."""

    def __init__(self, path: Path, limits: ZipLimits | None = None) -> None:
        self.path = Path(path)
        self.limits = limits or _limits
        self._check_directory()
        try:
            self._zip = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
            raise DumpError(f"not a valid zip archive: {exc}", file=self.path) from None
        try:
            self._files = self._check_members()
        except DumpError as err:
            self._zip.close()
            raise DumpError(err.message, file=self.path, position=err.position) from None

    def __enter__(self) -> SafeZip:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()

    @property
    def file_names(self) -> list[str]:
        """Normalized names of the file members (directories left out), in archive order."""
        return list(self._files)

    def _check_directory(self) -> None:
        """Refuse an oversized central directory before zipfile parses it into memory."""
        try:
            size = self.path.stat().st_size
            with self.path.open("rb") as fh:
                tail_len = min(size, 22 + 0xFFFF + 20)
                fh.seek(size - tail_len)
                tail = fh.read(tail_len)
                at = _end_record(tail)
                if at < 0:
                    raise DumpError(
                        "not a valid zip archive: no end-of-central-directory record",
                        file=self.path,
                        position="end of file",
                    )
                entries, directory_bytes = struct.unpack_from("<HI", tail, at + 10)
                if at >= 20 and tail[at - 20 : at - 16] == _EOCD64_LOCATOR:
                    (offset,) = struct.unpack_from("<Q", tail, at - 12)
                    fh.seek(offset)
                    record = fh.read(56)
                    if len(record) == 56 and record[:4] == _EOCD64:
                        entries64, directory64 = struct.unpack_from("<QQ", record, 32)
                        entries = max(entries, entries64)
                        directory_bytes = max(directory_bytes, directory64)
        except OSError as exc:
            raise DumpError(f"cannot read the archive: {exc}", file=self.path) from None
        if entries > self.limits.max_members:
            raise DumpError(
                f"the archive holds {entries} members, more than the limit of "
                f"{self.limits.max_members} (TG_ZIP_MAX_MEMBERS)",
                file=self.path,
                position="central directory",
            )
        if directory_bytes > self.limits.max_members * _DIRECTORY_BYTES_PER_MEMBER:
            raise DumpError(
                f"the archive's central directory is {directory_bytes} bytes, too large to "
                "be a chat export",
                file=self.path,
                position="central directory",
            )

    def _check_members(self) -> dict[str, zipfile.ZipInfo]:
        infos = self._zip.infolist()
        if len(infos) > self.limits.max_members:
            raise DumpError(
                f"the archive holds {len(infos)} members, more than the limit of "
                f"{self.limits.max_members} (TG_ZIP_MAX_MEMBERS)",
                position="central directory",
            )
        files: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            name = normalize_member_name(info.filename)
            where = f"member {info.filename!r}"
            if stat.S_ISLNK(info.external_attr >> 16):
                raise DumpError(
                    "zip member is a symbolic link; refusing the archive", position=where
                )
            if info.flag_bits & 0x1:
                raise DumpError(
                    "zip member is encrypted; unpack the archive with its password first",
                    position=where,
                )
            if info.is_dir() or not name:
                continue
            if name in files:
                raise DumpError("two zip members have the same name", position=where)
            files[name] = info
        return files

    def iter_members(self, names: Iterable[str]) -> Iterator[tuple[str, Iterator[bytes]]]:
        """Each named member with a generator of its decompressed bytes, within the limits.

        The generator of one member must be consumed before the next member is taken: the
        total size limit is counted across them in order.
        """
        names = list(names)
        infos = [self._files[name] for name in names]
        declared = 0
        for info in infos:
            self._check_declared(info)
            declared += info.file_size
            if declared > self.limits.max_total_bytes:
                raise DumpError(
                    f"the needed members expand to more than {self.limits.max_total_bytes} "
                    "bytes (TG_ZIP_MAX_TOTAL_BYTES); refusing the archive",
                    file=self.path,
                    position=f"member {info.filename!r}",
                )
        written = [0]
        for name, info in zip(names, infos, strict=True):
            yield name, self._stream(info, written)

    def _check_declared(self, info: zipfile.ZipInfo) -> None:
        where = f"member {info.filename!r}"
        if info.compress_type not in _SUPPORTED_METHODS:
            raise DumpError(
                f"zip member uses compression method {info.compress_type}, which is not "
                "supported; re-pack the archive with deflate",
                file=self.path,
                position=where,
            )
        if info.file_size > self.limits.max_total_bytes:
            raise DumpError(
                f"zip member declares {info.file_size} bytes, more than the limit of "
                f"{self.limits.max_total_bytes} (TG_ZIP_MAX_TOTAL_BYTES); refusing the archive",
                file=self.path,
                position=where,
            )
        if info.file_size > max(RATIO_FLOOR, info.compress_size * self.limits.max_ratio):
            ratio = info.file_size / max(info.compress_size, 1)
            raise DumpError(
                f"zip member expands {ratio:.0f}:1, past the limit of "
                f"{self.limits.max_ratio:g}:1 (TG_ZIP_MAX_RATIO); refusing a likely zip bomb",
                file=self.path,
                position=where,
            )

    def _stream(self, info: zipfile.ZipInfo, written: list[int]) -> Iterator[bytes]:
        """Decompressed chunks, stopping the moment the real output passes a limit."""
        where = f"member {info.filename!r}"
        ratio_budget = max(RATIO_FLOOR, int(info.compress_size * self.limits.max_ratio))
        produced = 0
        try:
            with self._zip.open(info) as member:
                while chunk := member.read(CHUNK_SIZE):
                    produced += len(chunk)
                    written[0] += len(chunk)
                    check_budget(
                        produced=produced,
                        total=written[0],
                        declared=info.file_size,
                        ratio_budget=ratio_budget,
                        limits=self.limits,
                    )
                    yield chunk
        except DumpError as err:
            raise DumpError(err.message, file=self.path, position=where) from None
        except (
            zipfile.BadZipFile,
            zlib.error,
            lzma.LZMAError,
            EOFError,
            OSError,
            ValueError,
            NotImplementedError,
            RuntimeError,
        ) as exc:
            raise DumpError(f"corrupt zip member: {exc}", file=self.path, position=where) from None


def check_budget(
    *, produced: int, total: int, declared: int, ratio_budget: int, limits: ZipLimits
) -> None:
    """Raise once actual output passes what the header promised or what is sane."""
    if total > limits.max_total_bytes:
        raise DumpError(
            f"the archive expands past {limits.max_total_bytes} bytes "
            "(TG_ZIP_MAX_TOTAL_BYTES); refusing it"
        )
    if produced > ratio_budget:
        raise DumpError(
            f"zip member expands past {limits.max_ratio:g}:1 while decompressing "
            "(TG_ZIP_MAX_RATIO); refusing a likely zip bomb"
        )
    if produced > declared:
        raise DumpError(
            f"zip member expands past its declared size of {declared} bytes; refusing it"
        )
