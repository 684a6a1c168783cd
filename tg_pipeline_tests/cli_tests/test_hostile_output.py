"""Hostile names and texts show literally on every table path, in a pipe and on a terminal.

One export holds Rich markup (``[/quote]``, ``[b]x[/b]``), terminal escapes (clear screen,
window title), NUL, a bidi override and Markdown in its chat name, sender and texts, and
its file name carries tags and an escape too. It is ingested once through a
pseudo-terminal (so the progress line is drawn); every table then prints it as text,
while ``--format jsonl`` gives the exact values back.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import pty
import select
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from rich.cells import cell_len

from tg_pipeline.cli.safe_text import clip, markup_safe, visible
from tg_pipeline_tests.cli_tests.conftest import CLI, cli_env, run_cli

CHAT = "[/quote] chat \x1b]0;pwned\x07 \u202eexe.txt"
SENDER = "[b]x[/b] ![x](http://tracker.invalid/p.png)"
TEXT = "[/quote] [i]it[/i] \x1b[2J\x00 end"
WIDE_CHAT = "漢字漢字漢字漢字漢字 🎉🎉"
#: Cells a spreadsheet would run as formulas (OWASP: = + - @ tab CR).
FORMULAS = ('=HYPERLINK("http://tracker.invalid","x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1")
FORMULA_SENDER = "=cmd|' /C calc'!A0"
#: A file name cannot hold "/", so its tags are opening ones, which Rich would swallow.
FILE_NAME = "[bold]x[red] \x1b[2J.json"
#: A data directory named with tags: ``status`` prints its path.
DATA_DIR = "[bold]data[red]"
#: What must never reach a terminal from the data: the raw sequences themselves.
RAW = ("\x1b[2J", "\x1b]0;", "\x07", "\x00", "\u202e")


def hostile_export() -> dict[str, object]:
    def message(mid: int, sender: str, text: str) -> dict[str, object]:
        return {
            "id": mid,
            "type": "message",
            "date": "2023-01-01T10:00:00",
            "date_unixtime": str(1672567200 + mid),
            "from": sender,
            "from_id": f"user{700 + mid}",
            "text": text,
        }

    return {
        "about": "",
        "chats": {
            "list": [
                {
                    "name": CHAT,
                    "type": "private_group",
                    "id": 5151,
                    "messages": [
                        message(1, SENDER, TEXT),
                        message(2, SENDER, "[/]"),
                        *(message(10 + i, FORMULA_SENDER, t) for i, t in enumerate(FORMULAS)),
                    ],
                },
                {
                    "name": WIDE_CHAT,
                    "type": "private_group",
                    "id": 5252,
                    "messages": [message(3, "漢字 sender", "漢字" * 200)],
                },
            ]
        },
    }


def run_in_pty(args: list[str], *, columns: int = 200, timeout: float = 120) -> tuple[int, str]:
    """Run ``tg-pipeline ARGS`` with a terminal as stdout and stderr; all it wrote."""
    master, slave = pty.openpty()
    env = cli_env(COLUMNS=str(columns), TERM="xterm-256color")
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [str(CLI), *args], stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    code = proc.wait(timeout=10)
    return code, b"".join(chunks).decode("utf-8", "replace")


@dataclass(frozen=True)
class Hostile:
    data_dir: Path
    ingest_out: str


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Hostile:
    root = tmp_path_factory.mktemp("hostile_output")
    source = root / FILE_NAME
    source.write_bytes(orjson.dumps(hostile_export()))
    data_dir = root / DATA_DIR
    code, out = run_in_pty(["--data-dir", str(data_dir), "ingest", str(source)])
    assert code == 0, out
    return Hostile(data_dir, out)


def assert_literal(out: str) -> None:
    for raw in RAW:
        assert raw not in out, f"{raw!r} reached the terminal:\n{out}"


def test_the_ingest_progress_line_and_summary_show_the_file_name_literally(
    hostile: Hostile,
) -> None:
    assert_literal(hostile.ingest_out)
    # The progress line is drawn on a terminal with the name, markup escaped, ESC spelled.
    assert "[bold]x[red] \\x1b[2J.json" in hostile.ingest_out


def test_the_parse_summary_shows_the_file_name_literally(tmp_path: Path) -> None:
    source = tmp_path / FILE_NAME
    source.write_bytes(orjson.dumps(hostile_export()))
    result = run_cli("parse", str(source), data_dir=tmp_path / "data")
    assert result.code == 0, str(result)
    assert_literal(result.err)
    assert "[bold]x[red] \\x1b[2J.json" in result.err.splitlines()[0]


@pytest.mark.parametrize(
    "args",
    [
        ["messages"],
        ["messages", "--chat", CHAT],
        ["counts"],
        ["chats"],
        ["delete", "--chat", CHAT, "--dry-run"],
        ["status"],
    ],
    ids=["messages", "messages-chat", "counts", "chats", "delete-preview", "status"],
)
def test_tables_show_hostile_values_literally_in_a_pipe(hostile: Hostile, args: list[str]) -> None:
    result = run_cli(*args, data_dir=hostile.data_dir)
    assert result.code == 0, str(result)
    assert_literal(result.out)
    assert "\x1b" not in result.out, "a pipe gets no escape sequence at all"
    if args[0] == "status":
        assert f"Data directory {hostile.data_dir}\n" in result.out, result.out
        assert "bold_x_red" in result.out, "the dump, by its id"
        return
    if args[0] in ("messages", "delete"):
        assert "[/quote] [i]it[/i] \\x1b[2J\\x00 end" in result.out, result.out
        assert "[/]" in result.out
    # Narrow columns end in an ellipsis; what shows is the value's own start.
    if args[0] != "chats":
        assert "[b]x[/b] ![x](http://tr" in result.out, result.out
    assert "[/quote] chat \\x1b]0;pw" in result.out, result.out


def test_a_terminal_gets_rich_styles_but_no_escape_from_the_data(hostile: Hostile) -> None:
    for args in (["messages"], ["chats"], ["delete", "--chat", CHAT, "--dry-run"]):
        code, out = run_in_pty(["--data-dir", str(hostile.data_dir), *args])
        assert code == 0, out
        assert_literal(out)
        assert "[/quote]" in out and "\\x1b]0;pw" in out


def test_jsonl_keeps_the_exact_values(hostile: Hostile) -> None:
    rows = run_cli("messages", "--format", "jsonl", data_dir=hostile.data_dir).jsonl()
    assert {r["text"] for r in rows} >= {TEXT, "[/]"}
    assert {r["chat_name"] for r in rows} == {CHAT, WIDE_CHAT}
    assert SENDER in {r["sender_name"] for r in rows}
    chats = run_cli("chats", "--format", "jsonl", data_dir=hostile.data_dir).jsonl()
    assert {c["name"] for c in chats} == {CHAT, WIDE_CHAT}


def test_wide_characters_are_measured_in_display_cells(hostile: Hostile) -> None:
    """A CJK/emoji chat name fits its column whole, and no line passes the terminal width."""
    for columns in (200, 60):
        result = run_cli("chats", data_dir=hostile.data_dir, env=cli_env(COLUMNS=str(columns)))
        assert result.code == 0, str(result)
        if columns == 200:
            assert WIDE_CHAT in result.out, result.out
        for line in result.out.splitlines():
            assert cell_len(line) <= columns, (columns, line)
    result = run_cli("messages", data_dir=hostile.data_dir, env=cli_env(COLUMNS="80"))
    wide_rows = [line for line in result.out.splitlines() if "漢字漢字" in line]
    assert wide_rows and all(cell_len(line) <= 80 for line in result.out.splitlines())
    assert all("…" in line for line in wide_rows), result.out


def _csv_rows(data_dir: Path, *args: str) -> list[dict[str, str]]:
    """The rows ``tg-pipeline ARGS --format csv`` prints, read as bytes: a CR stays a CR."""
    result = run_cli(*args, "--format", "csv", data_dir=data_dir)
    assert result.code == 0, result.err
    return list(csv.DictReader(io.StringIO(result.raw_out.decode("utf-8"), newline="")))


def test_csv_is_faithful_and_csv_safe_defuses_formulas(hostile: Hostile, tmp_path: Path) -> None:
    texts = {row["text"] for row in _csv_rows(hostile.data_dir, "messages")}
    assert set(FORMULAS) <= texts
    for command in (["messages"], ["counts"], ["chats"]):
        rows = _csv_rows(hostile.data_dir, *command, "--csv-safe")
        assert rows
        for row in rows:
            for name, cell in row.items():
                if name in ("message_id", "chat_id", "message_count"):
                    continue
                assert not cell or cell[0] not in "=+-@\t\r", (command, name, cell)
        if command == ["messages"]:
            assert {row["text"] for row in rows} >= {"'" + f for f in FORMULAS}
            assert "'" + FORMULA_SENDER in {row["sender_name"] for row in rows}
            assert TEXT in {row["text"] for row in rows}, "other cells stay as they are"
    # JSON Lines and backups stay faithful whatever the option.
    rows = run_cli("messages", "--format", "jsonl", "--csv-safe", data_dir=hostile.data_dir)
    assert set(FORMULAS) <= {r["text"] for r in rows.jsonl()}
    data = tmp_path / "data"
    shutil.copytree(hostile.data_dir, data)
    backup = run_cli("backup", "--format", "csv", data_dir=data)
    assert backup.code == 0, str(backup)
    path = Path(backup.out.split("\t")[0])
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as fh:
        backed_up = {row["text"] for row in csv.DictReader(fh)}
    assert set(FORMULAS) <= backed_up


def test_visible_spells_controls_and_bidi_and_clip_counts_cells() -> None:
    assert visible("a\x1b[2Jb\x00\x7f\x9b\u202e\u2066") == (
        "a\\x1b[2Jb\\x00\\x7f\\x9b\\u202e\\u2066"
    )
    assert visible("emoji 👨‍👩‍👧 stays") == "emoji 👨‍👩‍👧 stays"
    assert markup_safe("[b]x[/b]") == "\\[b]x\\[/b]"
    assert clip("漢字漢字", 5) == "漢字…"
    assert cell_len(clip("漢字漢字", 5)) <= 5
    assert clip("abc", 3) == "abc"
