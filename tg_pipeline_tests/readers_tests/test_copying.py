"""The raw copy: exactly the bytes fingerprinted, by the kernel, a buffer or a hard link,
and refused when the file changes meanwhile."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
import threading
from pathlib import Path

import pytest

from tg_pipeline.errors import DumpError
from tg_pipeline.readers import copy_dump, copying, fingerprint_dump
from tg_pipeline.readers.formats import Format
from tg_pipeline.readers.sniff import SNIFF_BYTES

#: Bigger than a hashing chunk and than the size from which a file is hashed on a thread.
_BIG = 9 << 20


def _big_json(path: Path, *, bad_at: int | None = None) -> bytes:
    """A ``result.json`` of :data:`_BIG` bytes, ASCII lines after the first 64 KiB; with
    ``bad_at``, the byte there is a lone UTF-8 lead byte."""
    head = b'{"name": "Big", "type": "personal_chat", "id": 1, "messages": [\n'
    line = b'{"id": 1, "type": "message", "text": "' + b"x" * 60 + b'"},\n'
    body = bytearray(head + line * ((_BIG - len(head)) // len(line)) + b"{}]}\n")
    if bad_at is not None:
        body[bad_at] = 0xD0
    path.write_bytes(bytes(body))
    return bytes(body)


def _sha_fingerprint(data: bytes) -> str:
    return combine_digests([(len(data), hashlib.sha256(data).hexdigest())])


def combine_digests(files: list[tuple[int, str]]) -> str:
    """The fingerprint of files given by size and SHA-256, computed independently."""
    outer = hashlib.sha256(b"tg_pipeline dump fingerprint v1\n")
    for size, sha in files:
        outer.update(f"{size} {sha}\n".encode())
    return outer.hexdigest()


def test_copy_dump_keeps_exactly_the_bytes_it_fingerprinted(tmp_path: Path) -> None:
    source = tmp_path / "result.json"
    data = _big_json(source)
    before = threading.active_count()
    dump = copy_dump(source, tmp_path / "copy")
    assert (tmp_path / "copy" / "result.json").read_bytes() == data
    assert dump.fingerprint == _sha_fingerprint(data) == fingerprint_dump(source)
    assert dump.files == (source,)
    assert threading.active_count() == before


def test_copy_dump_without_a_kernel_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file system that refuses copy_file_range (or a kernel without it) gets a buffered
    copy: nothing on this machine refuses it, so the refusal is simulated."""
    source = tmp_path / "result.json"
    data = _big_json(source)

    def refuse(*_: object) -> int:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "copy_file_range", refuse)
    dump = copy_dump(source, tmp_path / "copy")
    assert (tmp_path / "copy" / "result.json").read_bytes() == data
    assert dump.fingerprint == _sha_fingerprint(data)


def test_copy_dump_finishes_a_kernel_copy_that_stops_short(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some file systems end copy_file_range early with 0; the rest is copied by hand."""
    source = tmp_path / "result.json"
    data = _big_json(source)
    real = os.copy_file_range
    calls: list[int] = []

    def short(src: int, dst: int, count: int, offset_src: int | None = None) -> int:
        calls.append(count)
        if len(calls) > 1:
            return 0
        return real(src, dst, min(count, 12345), offset_src)

    monkeypatch.setattr(os, "copy_file_range", short)
    dump = copy_dump(source, tmp_path / "copy")
    assert (tmp_path / "copy" / "result.json").read_bytes() == data
    assert dump.fingerprint == _sha_fingerprint(data)
    assert len(calls) == 2


def test_a_full_disk_while_copying_is_not_the_dumps_fault(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "result.json"
    _big_json(source)

    def full(*_: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "copy_file_range", full)
    with pytest.raises(OSError) as raised:
        copy_dump(source, tmp_path / "copy")
    assert not isinstance(raised.value, DumpError)
    assert raised.value.errno == errno.ENOSPC


def test_a_bad_byte_far_into_a_copied_export_is_placed_in_the_source(tmp_path: Path) -> None:
    """The copy is checked, but the error names the file the user gave, with the byte and
    the line; lines are counted only once the error is found."""
    source = tmp_path / "result.json"
    bad_at = (5 << 20) + 7
    data = _big_json(source, bad_at=bad_at)
    before = threading.active_count()
    with pytest.raises(DumpError, match="invalid UTF-8") as raised:
        copy_dump(source, tmp_path / "copy")
    assert raised.value.file == str(source)
    line = data.count(b"\n", 0, bad_at) + 1
    assert raised.value.position == f"byte {bad_at} (line {line})"
    assert threading.active_count() == before


def test_a_file_of_the_wrong_kind_is_refused_before_it_is_copied(tmp_path: Path) -> None:
    source = tmp_path / "result.json"
    source.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40_000)
    with pytest.raises(DumpError) as raised:
        copy_dump(source, tmp_path / "copy")
    assert raised.value.file == str(source)
    assert not (tmp_path / "copy" / "result.json").exists()


@pytest.mark.parametrize("link", [False, True], ids=["copied", "linked"])
def test_a_file_written_to_while_it_is_copied_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, link: bool
) -> None:
    """The copy and the check read the source side by side; a writer appending meanwhile
    (simulated at a fixed moment: during the check) makes them disagree, so it is refused.
    A file linked rather than copied is held to the same: the bytes checked are those kept."""
    source = tmp_path / "result.json"
    _big_json(source)
    real = copying.check_file

    def check_while_appending(path: Path, fmt: Format, display: str | None = None):
        with path.open("ab") as more:
            more.write(b"\n")
        return real(path, fmt, display)

    monkeypatch.setattr(copying, "check_file", check_while_appending)
    with pytest.raises(DumpError, match="changed while it was being copied") as raised:
        copy_dump(source, tmp_path / "copy", link=link)
    assert raised.value.file == str(source)


def test_a_bad_byte_found_while_the_copy_runs_is_the_error_raised(tmp_path: Path) -> None:
    """The check finds the bad byte while the copy thread still runs; staging ends with the
    dump's error (the copy is stopped, not waited for to the end)."""
    source = tmp_path / "result.json"
    _big_json(source, bad_at=SNIFF_BYTES + 10)
    with pytest.raises(DumpError, match="invalid UTF-8"):
        copy_dump(source, tmp_path / "copy")


def test_a_file_with_no_other_name_is_linked_not_copied(tmp_path: Path) -> None:
    """With ``link``, the raw copy of a file only the caller holds is the file itself: its
    bytes are written once. The fingerprint is that of the same bytes."""
    source = tmp_path / "result.json"
    data = _big_json(source)
    dump = copy_dump(source, tmp_path / "copy", link=True)
    kept = tmp_path / "copy" / "result.json"
    assert os.path.samefile(kept, source)
    assert kept.read_bytes() == data
    assert dump.fingerprint == _sha_fingerprint(data) == fingerprint_dump(source)


def test_a_file_reachable_by_another_name_is_copied_even_when_links_are_allowed(
    tmp_path: Path,
) -> None:
    """A second name means someone else may still change the bytes through it: the raw
    copy must not share them."""
    source = tmp_path / "result.json"
    data = _big_json(source)
    os.link(source, tmp_path / "theirs.json")
    copy_dump(source, tmp_path / "copy", link=True)
    kept = tmp_path / "copy" / "result.json"
    assert not os.path.samefile(kept, source)
    assert kept.read_bytes() == data


def test_a_file_that_cannot_be_linked_is_copied(tmp_path: Path) -> None:
    """A link across file systems fails (EXDEV); the file is copied instead. The target is
    on a tmpfs, which differs from the test's own directory on this machine."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs /dev/shm on a file system other than the test's tmp_path")
    source = tmp_path / "result.json"
    data = _big_json(source)
    target = Path(tempfile.mkdtemp(dir=shm))
    try:
        dump = copy_dump(source, target / "copy", link=True)
        kept = target / "copy" / "result.json"
        assert not os.path.samefile(kept, source)
        assert kept.read_bytes() == data
        assert dump.fingerprint == _sha_fingerprint(data)
    finally:
        shutil.rmtree(target)
