"""A zip dump is read only if every member is safe, and only its content is ever expanded."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tg_pipeline.config import Settings
from tg_pipeline.errors import DumpError, TgPipelineError
from tg_pipeline.readers import DumpKind, fingerprint_dump, open_dump
from tg_pipeline.readers.safezip import (
    RATIO_FLOOR,
    SafeZip,
    ZipLimits,
    check_budget,
    normalize_member_name,
)
from tg_pipeline_tests.conftest import OWN_FIXTURES
from tg_pipeline_tests.readers_tests.test_bad_input import (
    MIB,
    S_IFLNK,
    RawMember,
    deflate,
    write_raw_zip,
    write_zero_bomb,
)

CHANNEL_HTML = OWN_FIXTURES / "channel" / "html"
CHANNEL_JSON = OWN_FIXTURES / "channel" / "json" / "result.json"


def zip_export(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def html_export_members(prefix: str = "ChatExport_2023-01-02/") -> dict[str, bytes]:
    members = {prefix + p.name: p.read_bytes() for p in sorted(CHANNEL_HTML.glob("*.html"))}
    members[prefix + "photos/photo_1@02-01-2023_10-11-20.jpg"] = b"\xff\xd8\xff" + bytes(4096)
    members[prefix + "css/style.css"] = b"body { margin: 0 }\n"
    return members


def test_extracts_only_the_pages_and_removes_them_afterwards(tmp_path: Path) -> None:
    members = html_export_members()
    path = zip_export(tmp_path / "export.zip", members)
    with open_dump(path) as dump:
        assert dump.kind is DumpKind.TELEGRAM_HTML
        assert dump.extracted_to is not None
        extracted = sorted(
            p.relative_to(dump.extracted_to).as_posix()
            for p in dump.extracted_to.rglob("*")
            if p.is_file()
        )
        assert extracted == [
            "ChatExport_2023-01-02/messages.html",
            "ChatExport_2023-01-02/messages2.html",
            "ChatExport_2023-01-02/messages3.html",
        ]
        assert [f.name for f in dump.files] == ["messages.html", "messages2.html", "messages3.html"]
        assert dump.root == dump.extracted_to / "ChatExport_2023-01-02"
        for f in dump.files:
            assert f.read_bytes() == members[f"ChatExport_2023-01-02/{f.name}"]
        assert dump.display_path(dump.files[1]) == f"{path}/ChatExport_2023-01-02/messages2.html"
        temp = dump.extracted_to
    assert not temp.exists()


def test_temp_folder_is_removed_when_reading_fails(tmp_path: Path) -> None:
    path = zip_export(tmp_path / "export.zip", html_export_members())
    with pytest.raises(RuntimeError), open_dump(path) as dump:
        temp = dump.extracted_to
        raise RuntimeError("reader failed")
    assert temp is not None and not temp.exists()


def test_zip_of_a_bare_file_and_macos_litter(tmp_path: Path) -> None:
    path = zip_export(
        tmp_path / "chat.zip",
        {
            "weekly.json": CHANNEL_JSON.read_bytes(),
            "__MACOSX/._weekly.json": b"\0\5\26\7",
            ".DS_Store": b"\0\0\0\1Bud1",
        },
    )
    with open_dump(path) as dump:
        assert dump.kind is DumpKind.TELEGRAM_JSON
        assert [f.name for f in dump.files] == ["weekly.json"]


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("../result.json", "leaves the archive"),
        ("export/../../result.json", "leaves the archive"),
        ("..\\result.json", "leaves the archive"),
        ("/etc/result.json", "absolute path"),
        ("C:/Users/x/result.json", "absolute path"),
        ("C:\\Users\\x\\result.json", "absolute path"),
    ],
)
def test_unsafe_paths_refuse_the_archive(tmp_path: Path, name: str, says: str) -> None:
    path = write_raw_zip(
        tmp_path / "unsafe.zip",
        [RawMember("ChatExport/result.json", CHANNEL_JSON.read_bytes()), RawMember(name, b"{}")],
    )
    with pytest.raises(DumpError, match=says) as raised, open_dump(path):
        pass
    assert raised.value.file == str(path)
    assert raised.value.position == f"member {name!r}"
    assert not (tmp_path.parent / "result.json").exists()


def test_harmless_dots_are_normalized() -> None:
    assert normalize_member_name("./export/./result.json") == "export/result.json"
    assert normalize_member_name("export\\result.json") == "export/result.json"
    assert normalize_member_name("a..b/result..json") == "a..b/result..json"


def test_a_symlink_anywhere_refuses_the_archive(tmp_path: Path) -> None:
    """Even a media member that would never be extracted: no honest export has links."""
    path = write_raw_zip(
        tmp_path / "links.zip",
        [
            RawMember("ChatExport/result.json", CHANNEL_JSON.read_bytes()),
            RawMember("ChatExport/photos/p.jpg", b"/etc/shadow", external_attr=S_IFLNK << 16),
        ],
    )
    with pytest.raises(DumpError, match="symbolic link"), open_dump(path):
        pass


def test_encrypted_member_is_refused(tmp_path: Path) -> None:
    path = write_raw_zip(tmp_path / "secret.zip", [RawMember("result.json", b"x" * 40, flags=1)])
    with pytest.raises(DumpError, match="encrypted"):
        fingerprint_dump(path)


def test_duplicate_member_names_are_refused(tmp_path: Path) -> None:
    data = CHANNEL_JSON.read_bytes()
    path = write_raw_zip(
        tmp_path / "twice.zip", [RawMember("result.json", data), RawMember("./result.json", b"{}")]
    )
    with pytest.raises(DumpError, match="same name"), open_dump(path):
        pass


def test_member_count_is_checked_before_the_directory_is_parsed(tmp_path: Path) -> None:
    members = [RawMember(f"ChatExport/photos/{i}.jpg", b"x") for i in range(11)]
    path = write_raw_zip(tmp_path / "many.zip", members)
    with pytest.raises(DumpError, match="11 members") as raised:
        SafeZip(path, ZipLimits(max_members=10))
    assert raised.value.position == "central directory"
    SafeZip(path, ZipLimits(max_members=11)).close()


def test_limits_come_from_the_environment(tmp_path: Path) -> None:
    members = [RawMember(f"ChatExport/photos/{i}.jpg", b"x") for i in range(6)]
    members.append(RawMember("ChatExport/result.json", CHANNEL_JSON.read_bytes()))
    path = write_raw_zip(tmp_path / "many.zip", members)
    assert fingerprint_dump(path)
    env = {
        "TG_ZIP_MAX_MEMBERS": "5",
        "TG_ZIP_MAX_RATIO": "50",
        "TG_ZIP_MAX_TOTAL_BYTES": "4096",
    }
    settings = Settings.from_env(env)
    assert settings.zip_limits == ZipLimits(max_total_bytes=4096, max_ratio=50, max_members=5)
    settings.install()  # what an entry point does with the environment's settings
    try:
        with pytest.raises(DumpError, match="TG_ZIP_MAX_MEMBERS"):
            fingerprint_dump(path)
    finally:
        Settings().install()
    with pytest.raises(TgPipelineError, match="TG_ZIP_MAX_MEMBERS"):
        Settings.from_env({**env, "TG_ZIP_MAX_MEMBERS": "many"})


def test_declared_size_past_the_limit_is_refused_before_expanding(tmp_path: Path) -> None:
    data = CHANNEL_JSON.read_bytes()
    path = write_raw_zip(tmp_path / "big.zip", [RawMember("result.json", data)])
    with pytest.raises(DumpError, match="declares") as raised:
        fingerprint_dump(path, limits=ZipLimits(max_total_bytes=len(data) - 1))
    assert raised.value.position == "member 'result.json'"
    assert fingerprint_dump(path, limits=ZipLimits(max_total_bytes=len(data)))


def test_total_of_the_needed_members_is_limited(tmp_path: Path) -> None:
    pages = {p.name: p.read_bytes() for p in sorted(CHANNEL_HTML.glob("*.html"))}
    path = write_raw_zip(tmp_path / "pages.zip", [RawMember(n, d) for n, d in pages.items()])
    biggest = max(len(d) for d in pages.values())
    with pytest.raises(DumpError, match="needed members expand"):
        fingerprint_dump(path, limits=ZipLimits(max_total_bytes=biggest + 1))


@pytest.mark.timeout(20)
def test_zip_bomb_is_refused_from_its_header_at_once(tmp_path: Path) -> None:
    path = write_zero_bomb(tmp_path / "bomb.zip", size=256 * MIB)
    # Garbage in the middle of the compressed stream: a reader that inflated the member
    # would fail on it instead of refusing the bomb from its header.
    with open(path, "r+b") as bomb:
        bomb.seek(path.stat().st_size // 2)
        bomb.write(b"\xff" * 64)
    with pytest.raises(DumpError, match="zip bomb") as raised, open_dump(path):
        pass
    assert raised.value.position == "member 'result.json'"


@pytest.mark.timeout(20)
def test_a_header_that_understates_the_size_never_gets_more_bytes(tmp_path: Path) -> None:
    """The header claims 1000 bytes; 64 MiB are compressed: reading stops at 1000 and fails."""
    real = bytes(64 * MIB)
    member = RawMember("result.json", deflate(real), method=8, file_size=1000)
    path = write_raw_zip(tmp_path / "liar.zip", [member])
    with pytest.raises(DumpError, match=r"corrupt zip member|declared size"):
        fingerprint_dump(path)


def test_streaming_budget_stops_at_the_first_chunk_past_a_limit() -> None:
    limits = ZipLimits(max_total_bytes=10 * MIB, max_ratio=100, max_members=10)
    budget = max(RATIO_FLOOR, 2 * MIB)
    check_budget(produced=budget, total=budget, declared=budget, ratio_budget=budget, limits=limits)
    with pytest.raises(DumpError, match="while decompressing"):
        check_budget(
            produced=budget + 1, total=budget + 1, declared=10 * MIB, ratio_budget=budget,
            limits=limits,
        )  # fmt: skip
    with pytest.raises(DumpError, match="TG_ZIP_MAX_TOTAL_BYTES"):
        check_budget(
            produced=1, total=10 * MIB + 1, declared=10 * MIB, ratio_budget=budget, limits=limits
        )
    with pytest.raises(DumpError, match="declared size"):
        check_budget(produced=101, total=101, declared=100, ratio_budget=budget, limits=limits)


def test_unsupported_compression_is_named(tmp_path: Path) -> None:
    path = write_raw_zip(tmp_path / "d64.zip", [RawMember("result.json", b"\0" * 32, method=9)])
    with pytest.raises(DumpError, match="compression method 9"):
        fingerprint_dump(path)


def test_corrupt_member_data_is_a_dump_error(tmp_path: Path) -> None:
    data = deflate(CHANNEL_JSON.read_bytes())
    broken = data[:20] + bytes(len(data) - 20)
    path = write_raw_zip(
        tmp_path / "broken.zip",
        [RawMember("result.json", broken, method=8, file_size=CHANNEL_JSON.stat().st_size)],
    )
    with pytest.raises(DumpError, match="corrupt zip member") as raised:
        fingerprint_dump(path)
    assert raised.value.file == str(path)


def test_not_a_zip_at_all(tmp_path: Path) -> None:
    path = tmp_path / "export.zip"
    path.write_bytes(b"PK\x03\x04 but nothing after that")
    with pytest.raises(DumpError, match="not a valid zip archive") as raised:
        fingerprint_dump(path)
    assert raised.value.position == "end of file"


def test_empty_zip(tmp_path: Path) -> None:
    path = zip_export(tmp_path / "empty.zip", {})
    with pytest.raises(DumpError, match="empty zip archive"):
        fingerprint_dump(path)
