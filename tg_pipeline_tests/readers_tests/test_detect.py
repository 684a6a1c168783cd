"""What kind of dump a path is, which files are its content, and its fingerprint."""

from __future__ import annotations

import gzip
import shutil
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tg_pipeline.errors import DumpError
from tg_pipeline.readers import (
    Dump,
    DumpKind,
    fingerprint_dump,
    open_dump,
    page_number,
    read_dump,
)
from tg_pipeline.readers.formats import MANIFEST_SUFFIX
from tg_pipeline.readers.sniff import SNIFF_BYTES
from tg_pipeline.records import FIELD_NAMES, MESSAGE_SCHEMA, BatchBuilder, ReadOptions
from tg_pipeline_tests.conftest import OWN_FIXTURES
from tg_pipeline_tests.fixtures.chats import full_account
from tg_pipeline_tests.synthetic import write_account_html

CHANNEL_HTML = OWN_FIXTURES / "channel" / "html"
CHANNEL_JSON = OWN_FIXTURES / "channel" / "json" / "result.json"


def detect(path: Path) -> Dump:
    with open_dump(path) as dump:
        return dump


def copy_pages(target: Path, names: list[str] | None = None) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    pages = sorted(CHANNEL_HTML.glob("messages*.html"))
    for page, name in zip(pages, names or [p.name for p in pages], strict=False):
        shutil.copy(page, target / name)
    return target


def zip_folder(folder: Path, path: Path, *, under: str = "") -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                archive.write(file, under + file.relative_to(folder).as_posix())
    return path


# --- kinds ------------------------------------------------------------------------------------


def test_seed_folder_with_both_formats_reads_the_json(seed_dir: Path) -> None:
    dump = detect(seed_dir)
    assert dump.kind is DumpKind.TELEGRAM_JSON
    assert dump.files == (seed_dir / "result.json",)
    assert dump.root == seed_dir
    assert dump.total_bytes == (seed_dir / "result.json").stat().st_size
    assert any("HTML page" in note and "preferred" in note for note in dump.notes)


def test_seed_page_alone_is_html(seed_dir: Path) -> None:
    dump = detect(seed_dir / "messages.html")
    assert dump.kind is DumpKind.TELEGRAM_HTML
    assert dump.files == (seed_dir / "messages.html",)
    assert dump.notes == ()


def test_every_sample_json_is_a_telegram_json(samples_dir: Path) -> None:
    files = sorted((samples_dir / "json").glob("*.json"))
    assert len(files) >= 10
    for path in files:
        assert detect(path).kind is DumpKind.TELEGRAM_JSON, path


def test_every_sample_page_is_a_telegram_html(samples_dir: Path) -> None:
    files = sorted((samples_dir / "html").glob("*.html"))
    assert len(files) >= 7
    for path in files:
        assert detect(path).kind is DumpKind.TELEGRAM_HTML, path


def test_pages_are_in_numeric_order(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    for name in ["messages10.html", "messages2.html", "messages.html", "messages9.html"]:
        shutil.copy(CHANNEL_HTML / "messages.html", folder / name)
    (folder / "export_results.html").write_text("<html></html>")
    dump = detect(folder)
    names = [f.name for f in dump.files]
    assert names == ["messages.html", "messages2.html", "messages9.html", "messages10.html"]
    assert [page_number(n) for n in names] == [1, 2, 9, 10]


def test_page_order_agrees_with_the_html_reader(tmp_path: Path) -> None:
    html_export = pytest.importorskip("tg_pipeline.readers.html_export")
    folder = copy_pages(tmp_path / "e")
    for n in (4, 9, 10, 11, 20, 100):
        shutil.copy(CHANNEL_HTML / "messages3.html", folder / f"messages{n}.html")
    dump = detect(folder)
    assert html_export.order_pages(reversed(dump.files)) == list(dump.files)


def test_export_one_level_down(tmp_path: Path) -> None:
    outer = tmp_path / "Downloads"
    inner = outer / "Telegram Desktop" / "ChatExport_2023-01-02"
    inner.mkdir(parents=True)
    shutil.copy(CHANNEL_JSON, inner / "result.json")
    with pytest.raises(DumpError, match=r"no result\.json or messages"):
        detect(outer)
    dump = detect(outer / "Telegram Desktop")
    assert dump.kind is DumpKind.TELEGRAM_JSON
    assert dump.root == inner


def test_several_exports_one_level_down_are_refused(tmp_path: Path) -> None:
    for name in ("ChatExport_a", "ChatExport_b"):
        (tmp_path / "both" / name).mkdir(parents=True)
        shutil.copy(CHANNEL_JSON, tmp_path / "both" / name / "result.json")
    with pytest.raises(DumpError, match=r"several exports \(ChatExport_a/, ChatExport_b/\)"):
        detect(tmp_path / "both")


def test_folder_names_do_not_decide_the_kind(tmp_path: Path) -> None:
    """A folder named like a JSON export, holding HTML pages, is an HTML export."""
    folder = copy_pages(tmp_path / "result.json")
    assert detect(folder).kind is DumpKind.TELEGRAM_HTML
    lone = tmp_path / "messages.html"
    lone.mkdir()
    shutil.copy(CHANNEL_JSON, lone / "result.json")
    assert detect(lone).kind is DumpKind.TELEGRAM_JSON


def _account_html(root: Path) -> Path:
    """A whole-account export in HTML as tdesktop lays it out: an index page at the top,
    ``lists/chats.html``, each chat's pages in chats/chat_NN/."""
    write_account_html(full_account(), root, per_page=2)
    return root


def test_a_whole_account_html_export_is_one_dump_of_every_chat(tmp_path: Path) -> None:
    """From the folder itself, from the folder holding it and from a zip, the dump is the
    chat list plus every chat's pages in export order; each chat folder is a dump too."""
    export = _account_html(tmp_path / "DataExport_2024-05-01")
    expected = [
        "lists/chats.html",
        "chats/chat_1/messages.html",
        "chats/chat_1/messages2.html",
        "chats/chat_2/messages.html",
        "chats/chat_2/messages2.html",
        "chats/chat_3/messages.html",
    ]
    for dropped, prefix in (
        (export, ""),
        (tmp_path, "DataExport_2024-05-01/"),
        (zip_folder(export, tmp_path / "account.zip"), ""),
    ):
        dump = detect(dropped)
        assert dump.kind is DumpKind.TELEGRAM_HTML
        assert list(dump.names) == [prefix + name for name in expected]
    single = detect(export / "chats" / "chat_2")
    assert single.names == ("messages.html", "messages2.html")


def test_a_whole_account_export_with_json_beside_is_read_as_json(tmp_path: Path) -> None:
    export = _account_html(tmp_path / "DataExport")
    shutil.copy(CHANNEL_JSON, export / "result.json")
    assert detect(export).kind is DumpKind.TELEGRAM_JSON


def test_content_decides_a_file_without_extension(tmp_path: Path) -> None:
    json_path = tmp_path / "export"
    json_path.write_bytes(CHANNEL_JSON.read_bytes())
    assert detect(json_path).kind is DumpKind.TELEGRAM_JSON
    zipped = tmp_path / "download"
    zip_folder(copy_pages(tmp_path / "pages"), zipped)
    assert detect(zipped).kind is DumpKind.TELEGRAM_HTML
    other = tmp_path / "notes.txt"
    other.write_text("shopping list\n")
    with pytest.raises(DumpError, match="not a Telegram export or tg_pipeline backup"):
        detect(other)


def test_extension_and_content_must_agree(tmp_path: Path) -> None:
    page_as_json = tmp_path / "result.json"
    shutil.copy(CHANNEL_HTML / "messages.html", page_as_json)
    with pytest.raises(DumpError, match="starts with '<"):
        detect(page_as_json)


def test_json_sniff_tolerates_bom_and_whitespace(tmp_path: Path) -> None:
    path = tmp_path / "chat.json"
    path.write_bytes(b"\xef\xbb\xbf\n  \t" + CHANNEL_JSON.read_bytes())
    assert detect(path).kind is DumpKind.TELEGRAM_JSON


@pytest.mark.parametrize(
    ("head", "says"),
    [
        (b'{"chats": {"list": []}}', None),
        (b'{"messages": []}', None),
        (b'{"type": "saved_messages", "id": 1, "name": null}', None),
        (b'{"about": "x", "personal_information": {}}', None),
        (b'{"id": 5, "items": []}', "none of the keys"),
        (b'{"name": "left-pad"}', "none of the keys"),
        (b'"messages"', "starts with"),
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "binary data"),
        ('{"messages": []}'.encode("utf-16"), "binary data"),
        (b'{"messages": ["raw \0 control"]}', None),
    ],
)
def test_json_sniff(tmp_path: Path, head: bytes, says: str | None) -> None:
    path = tmp_path / "result.json"
    path.write_bytes(head)
    if says is None:
        assert detect(path).kind is DumpKind.TELEGRAM_JSON
    else:
        with pytest.raises(DumpError, match=says):
            detect(path)


def test_json_keys_are_looked_for_only_in_the_first_64_kib(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_bytes(b'{"padding": "' + b"p" * SNIFF_BYTES + b'", "messages": []}')
    with pytest.raises(DumpError, match="first 64 KiB") as raised:
        detect(path)
    assert raised.value.position == f"bytes 0-{SNIFF_BYTES - 1}"


# --- backups ----------------------------------------------------------------------------------


def _empty_table() -> pa.Table:
    return MESSAGE_SCHEMA.empty_table()


def test_parquet_backup(tmp_path: Path) -> None:
    path = tmp_path / "messages-20240101.parquet"
    pq.write_table(_empty_table(), path)
    dump = detect(path)
    assert dump.kind is DumpKind.BACKUP_PARQUET
    assert dump.files == (path,)
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(DumpError, match="truncated Parquet"):
        detect(path)
    path.write_bytes(b"not parquet at all")
    with pytest.raises(DumpError, match="no PAR1 magic"):
        detect(path)


def test_csv_backups(tmp_path: Path) -> None:
    header = ",".join(FIELD_NAMES) + "\n"
    plain = tmp_path / "messages.csv"
    plain.write_text(header + "1,chat,,7,message\n", encoding="utf-8")
    assert detect(plain).kind is DumpKind.BACKUP_CSV
    quoted = tmp_path / "quoted.csv"
    quoted.write_text(",".join(f'"{n}"' for n in FIELD_NAMES) + "\r\n", encoding="utf-8")
    assert detect(quoted).kind is DumpKind.BACKUP_CSV
    packed = tmp_path / "messages.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert detect(packed).kind is DumpKind.BACKUP_CSV
    wrong = tmp_path / "contacts.csv"
    wrong.write_text("name,phone\nAnn,123\n", encoding="utf-8")
    with pytest.raises(DumpError, match="CSV header") as raised:
        detect(wrong)
    assert raised.value.position == "line 1"
    fake_gz = tmp_path / "fake.csv.gz"
    fake_gz.write_bytes(plain.read_bytes())
    with pytest.raises(DumpError, match="not gzip"):
        detect(fake_gz)


def test_folder_holding_one_backup(tmp_path: Path) -> None:
    folder = tmp_path / "restore"
    folder.mkdir()
    pq.write_table(_empty_table(), folder / "messages.parquet")
    assert detect(folder).kind is DumpKind.BACKUP_PARQUET
    pq.write_table(_empty_table(), folder / "older.parquet")
    with pytest.raises(DumpError, match="several other files"):
        detect(folder)


# --- folders that are not dumps ---------------------------------------------------------------


def test_empty_folder_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "nothing here"
    folder.mkdir()
    (folder / ".DS_Store").write_bytes(b"\0")
    with pytest.raises(DumpError, match="empty folder") as raised:
        detect(folder)
    assert raised.value.file == str(folder)


def test_folder_without_an_export(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    (folder / "2023").mkdir(parents=True)
    (folder / "2023" / "a.jpg").write_bytes(b"\xff\xd8")
    (folder / "readme.txt").write_text("holiday")
    with pytest.raises(DumpError, match=r"no result\.json or messages"):
        detect(folder)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(DumpError, match="no such file or folder") as raised:
        fingerprint_dump(tmp_path / "gone")
    assert raised.value.file == str(tmp_path / "gone")


# --- fingerprints -----------------------------------------------------------------------------


def test_same_content_same_fingerprint_however_it_arrives(tmp_path: Path) -> None:
    folder = tmp_path / "ChatExport_2023-01-02"
    folder.mkdir()
    shutil.copy(CHANNEL_JSON, folder / "result.json")
    (folder / "photos").mkdir()
    (folder / "photos" / "p.jpg").write_bytes(b"\xff\xd8" * 100)
    renamed = tmp_path / "weekly digest.json"
    shutil.copy(CHANNEL_JSON, renamed)
    zipped = zip_folder(folder, tmp_path / "export.zip", under="ChatExport_2023-01-02/")
    flat_zip = zip_folder(folder, tmp_path / "flat.zip")

    expected = detect(folder).fingerprint
    for path in (folder, folder / "result.json", renamed, zipped, flat_zip):
        assert detect(path).fingerprint == expected, path
        assert fingerprint_dump(path) == expected, path

    (folder / "photos" / "p.jpg").write_bytes(b"other media")
    assert fingerprint_dump(folder) == expected, "media is not part of the fingerprint"


def test_different_content_or_order_different_fingerprint(tmp_path: Path) -> None:
    base = copy_pages(tmp_path / "a")
    swapped = copy_pages(tmp_path / "b", ["messages2.html", "messages.html", "messages3.html"])
    edited = copy_pages(tmp_path / "c")
    with (edited / "messages3.html").open("ab") as fh:
        fh.write(b"\n")
    prints = {fingerprint_dump(p) for p in (base, swapped, edited)}
    assert len(prints) == 3
    assert fingerprint_dump(base) == fingerprint_dump(copy_pages(tmp_path / "d"))
    assert len(fingerprint_dump(base)) == 64


# --- dispatch to the readers ------------------------------------------------------------------


def read_rows(path: Path, options: ReadOptions | None = None) -> list[dict]:
    with open_dump(path) as dump:
        batches = list(read_dump(dump, options))
    for batch in batches:
        assert batch.schema.equals(MESSAGE_SCHEMA)
    return [row for batch in batches for row in batch.to_pylist()]


def test_seed_json_and_html_dispatch_to_their_readers(seed_dir: Path) -> None:
    from_json = read_rows(seed_dir)
    from_html = read_rows(seed_dir / "messages.html", ReadOptions(chat_id=1124496986))
    assert [r["message_id"] for r in from_json] == list(range(182649, 182661))
    assert [r["message_id"] for r in from_html] == [r["message_id"] for r in from_json]
    assert {r["chat_id"] for r in from_html} == {1124496986}
    assert {r["source_file"] for r in from_json} == {str(seed_dir / "result.json")}


def _backup_rows(count: int) -> list[dict]:
    return [
        {
            "chat_id": 5,
            "chat_name": "Backup chat",
            "message_id": i,
            "kind": "message",
            "sent_at": 1_700_000_000 + i,
            "time_source": "unixtime",
            "sender_id": "user9",
            "text": f'line {i}\n"quoted", 🎉',
            "entities": [{"type": "plain", "text": f'line {i}\n"quoted", 🎉'}],
            "extra": {"i": i},
        }
        for i in range(1, count + 1)
    ]


def write_parquet_backup(path: Path, count: int) -> pa.Table:
    table = pa.Table.from_batches(list(BatchBuilder().extend(_backup_rows(count))))
    pq.write_table(table, path)
    return table


def test_parquet_backup_dispatches_to_the_backup_reader(tmp_path: Path) -> None:
    table = write_parquet_backup(tmp_path / "messages.parquet", 7)
    rows = read_rows(tmp_path / "messages.parquet")
    assert rows == table.to_pylist()


def test_a_zipped_backup_brings_its_manifest(tmp_path: Path) -> None:
    """The manifest is extracted with the backup, so the reader can check the row count."""
    folder = tmp_path / "backup"
    folder.mkdir()
    write_parquet_backup(folder / "messages.parquet", 4)
    manifest = folder / f"messages.parquet{MANIFEST_SUFFIX}"
    manifest.write_text('{"rows": 4}')
    assert len(read_rows(folder)) == 4
    manifest.write_text('{"rows": 5}')
    archive = zip_folder(folder, tmp_path / "backup.zip")
    with open_dump(archive) as dump:
        assert dump.kind is DumpKind.BACKUP_PARQUET
        assert [f.name for f in dump.files] == ["messages.parquet"]
        with pytest.raises(DumpError, match="manifest says 5") as raised:
            list(read_dump(dump))
    assert raised.value.file == f"{archive}/messages.parquet"


def test_errors_inside_a_zip_name_the_member_not_a_temp_folder(tmp_path: Path) -> None:
    data = CHANNEL_JSON.read_bytes()
    archive = tmp_path / "cut.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ChatExport/result.json", data[: len(data) // 2])
    with pytest.raises(DumpError) as raised, open_dump(archive) as dump:
        list(read_dump(dump))
    assert raised.value.file == f"{archive}/ChatExport/result.json"
    assert raised.value.position


def test_a_file_gone_while_reading_is_a_dump_error(tmp_path: Path) -> None:
    """An unforeseen failure in a reader still names the file, never escapes as a traceback."""
    folder = copy_pages(tmp_path / "vanishing")
    with pytest.raises(DumpError) as raised, open_dump(folder) as dump:
        (folder / "messages2.html").unlink()
        list(read_dump(dump))
    assert raised.value.file is not None and "vanishing" in raised.value.file
    assert raised.value.position
