"""``tg-pipeline parse`` run as a user runs it: a subprocess, its streams and exit status.

Peak memory is measured through a small launcher process. Linux carries a process's
peak RSS across ``fork`` and ``exec``, so a CLI started straight from this (large) pytest
process would report pytest's peak, not its own; started from the launcher, it reports
its own (its worker processes included), which ``os.wait4`` hands to the launcher.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import click
import orjson
import pytest
from click.testing import CliRunner

from tg_pipeline.cli import CliContext
from tg_pipeline.cli.main import main
from tg_pipeline.errors import DumpError
from tg_pipeline.records import FIELD_NAMES
from tg_pipeline_tests.conftest import OWN_FIXTURES, shared_fixture
from tg_pipeline_tests.readers_tests.test_bad_input import CASES, BadInput, read_all

CONSOLE_SCRIPT = Path(sys.executable).with_name("tg-pipeline")
MODULE_RUN = [sys.executable, "-m", "tg_pipeline.cli.main"]
SEED_IDS = list(range(182649, 182661))
MAX_RSS_MB = 400


def base_command() -> list[str]:
    found = shutil.which("tg-pipeline", path=str(CONSOLE_SCRIPT.parent))
    return [found] if found else list(MODULE_RUN)


def clean_env() -> dict[str, str]:
    """The environment without settings that would change what a run reads or limits."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TG_")}


@dataclass(frozen=True)
class Run:
    code: int
    out: bytes
    err: str
    seconds: float
    peak_rss_mb: float

    def lines(self) -> list[dict]:
        return [orjson.loads(line) for line in self.out.splitlines()]

    def __str__(self) -> str:
        tail = self.out[-400:].decode("utf-8", "replace")
        return (
            f"exit {self.code} in {self.seconds:.2f}s, {self.peak_rss_mb:.0f} MB\n"
            f"--- stderr\n{self.err}\n--- stdout (tail)\n{tail}"
        )


#: Forks the command, waits for it, writes its peak RSS (KiB) to argv[1], exits with its status.
_LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as fh:
    fh.write(str(usage.ru_maxrss))
code = os.waitstatus_to_exitcode(status)
os._exit(code if code >= 0 else 128 - code)
"""


def run(
    args: list[str], tmp_path: Path, *, timeout: float = 60, command: list[str] | None = None
) -> Run:
    """Run the CLI to completion or kill it at ``timeout``; measure its peak memory."""
    stamp = time.monotonic_ns()
    out_path, err_path, rss_path = (tmp_path / f"{n}-{stamp}" for n in ("out", "err", "rss"))
    argv = [sys.executable, "-c", _LAUNCHER, str(rss_path), *(command or base_command()), *args]
    started = time.monotonic()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=clean_env(),
            start_new_session=True,
        )
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            pytest.fail(f"tg-pipeline {' '.join(args)} hung for {timeout}s")
    return Run(
        code=code,
        out=out_path.read_bytes(),
        err=err_path.read_text(encoding="utf-8", errors="replace"),
        seconds=time.monotonic() - started,
        peak_rss_mb=int(rss_path.read_text()) / 1024,
    )


# --- the JSON Lines contract ------------------------------------------------------------------


def check_contract(result: Run) -> list[dict]:
    assert result.code == 0, str(result)
    rows = result.lines()
    for row in rows:
        assert tuple(row) == FIELD_NAMES
        assert row["sent_at"].endswith("+00:00")
        assert row["edited_at"] is None or row["edited_at"].endswith("+00:00")
        assert row["kind"] in ("message", "service")
        assert isinstance(row["entities"], list)
        assert isinstance(row["extra"], dict)
    assert "Traceback" not in result.err
    return rows


def test_seed_folder_prints_twelve_records_and_a_summary(seed_dir: Path, tmp_path: Path) -> None:
    result = run(["parse", str(seed_dir)], tmp_path)
    rows = check_contract(result)
    assert len(rows) == 12
    assert result.out.count(b"\n") == 12
    assert [r["message_id"] for r in rows] == SEED_IDS
    assert {r["chat_id"] for r in rows} == {1124496986}
    assert rows[0]["sent_at"] == "2022-08-31T09:01:36+00:00"
    assert all(r["source_file"].endswith("result.json") for r in rows)
    assert "telegram_json" in result.err
    assert re.search(
        r"12 records \(10 message, 2 service\) in 1 chat; [\d.]+ s, [\d,]+ msg/s", result.err
    )
    assert "preferred" in result.err, "the skipped HTML page is mentioned"


def test_seed_page_gives_the_same_ids_kinds_and_instants(seed_dir: Path, tmp_path: Path) -> None:
    html = check_contract(run(["parse", str(seed_dir / "messages.html")], tmp_path))
    json_rows = check_contract(run(["parse", str(seed_dir / "result.json")], tmp_path))
    assert [r["message_id"] for r in html] == SEED_IDS
    assert [r["kind"] for r in html] == [r["kind"] for r in json_rows]
    assert [r["reply_to_message_id"] for r in html] == [r["reply_to_message_id"] for r in json_rows]
    messages = [(h, j) for h, j in zip(html, json_rows, strict=True) if h["kind"] == "message"]
    assert all(h["sent_at"] == j["sent_at"] for h, j in messages)
    # HTML service entries carry no time at all: they take their neighbour's instant.
    services = [h for h in html if h["kind"] == "service"]
    assert services and all(h["time_source"] == "inferred" for h in services)


def _seed_text(row: dict) -> str:
    """Text with whitespace normalized. The seed's JSON was edited by hand: its one mention
    lacks the '@' that tdesktop writes (and the HTML shows), so mention pieces are compared
    without it."""
    pieces = [
        p["text"].removeprefix("@") if p["type"] == "mention" else p["text"]
        for p in row["entities"]
    ]
    return " ".join("".join(pieces).split())


def test_seed_texts_and_senders_agree_between_formats(seed_dir: Path, tmp_path: Path) -> None:
    html = check_contract(run(["parse", str(seed_dir / "messages.html")], tmp_path))
    json_rows = check_contract(run(["parse", str(seed_dir / "result.json")], tmp_path))
    pairs = list(zip(html, json_rows, strict=True))
    assert [_seed_text(h) for h, _ in pairs] == [_seed_text(j) for _, j in pairs]
    assert " ".join(html[10]["text"].split()) == "@username4 message9"
    renamed = [h["message_id"] for h, j in pairs if h["sender_name"] != j["sender_name"]]
    # The seed's README: 182651's sender is `username1` in the HTML and `user1` in the JSON.
    assert renamed == [182651]


def test_python_dash_m_and_the_console_script_agree(seed_dir: Path, tmp_path: Path) -> None:
    by_module = run(["parse", str(seed_dir)], tmp_path, command=MODULE_RUN)
    assert by_module.code == 0, str(by_module)
    if not CONSOLE_SCRIPT.exists():
        pytest.skip("no tg-pipeline console script next to this interpreter")
    by_script = run(["parse", str(seed_dir)], tmp_path, command=[str(CONSOLE_SCRIPT)])
    assert by_script.out == by_module.out
    helped = run(["--help"], tmp_path)
    assert helped.code == 0 and "parse" in helped.out.decode()
    for option in ("--data-dir", "--url", "--debug"):
        assert option in helped.out.decode()


def test_zip_records_name_the_zip_not_a_temp_folder(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "weekly.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for page in sorted((OWN_FIXTURES / "channel" / "html").glob("*.html")):
            archive.write(page, f"ChatExport/{page.name}")
    folder = check_contract(run(["parse", str(OWN_FIXTURES / "channel" / "html")], tmp_path))
    zipped = check_contract(run(["parse", str(path)], tmp_path))
    assert [r["message_id"] for r in zipped] == [r["message_id"] for r in folder]
    assert {r["source_file"] for r in zipped} == {
        f"{path}/ChatExport/messages{n}.html" for n in ("", "2", "3")
    }


def test_zone_and_chat_id_options(tmp_path: Path) -> None:
    legacy = OWN_FIXTURES / "legacy_2021" / "html"
    utc = check_contract(run(["parse", str(legacy)], tmp_path))
    berlin = check_contract(
        run(["parse", str(legacy), "--zone", "Europe/Berlin", "--chat-id", "77"], tmp_path)
    )
    assert [r["message_id"] for r in utc] == [r["message_id"] for r in berlin]
    first = next(i for i, r in enumerate(utc) if r["time_source"] == "assumed")
    assert utc[first]["sent_at"].startswith("2021-11-26T12:00:00")
    assert berlin[first]["sent_at"].startswith("2021-11-26T11:00:00")
    assert {r["chat_id"] for r in berlin} == {77}
    bad = run(["parse", str(legacy), "--zone", "Mars/Olympus_Mons"], tmp_path)
    assert bad.code == 2, str(bad)
    assert "unknown time zone" in bad.err and "Traceback" not in bad.err


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run(["parse"], tmp_path).code == 2
    assert run(["parse", "x", "--chat-id", "seven"], tmp_path).code == 2
    assert run(["no-such-command"], tmp_path).code == 2


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    plain = run(["parse", str(tmp_path / "missing")], tmp_path)
    assert plain.code == 1 and "Traceback" not in plain.err
    debug = run(["--debug", "parse", str(tmp_path / "missing")], tmp_path)
    assert debug.code != 0 and "Traceback" in debug.err and "DumpError" in debug.err


@pytest.mark.timeout(60)
def test_a_closed_pipe_ends_the_run_quietly(tmp_path: Path) -> None:
    folder = tmp_path / "many_pages"
    folder.mkdir()
    source = OWN_FIXTURES / "channel" / "html" / "messages2.html"
    for n in range(1, 121):
        shutil.copy(source, folder / ("messages.html" if n == 1 else f"messages{n}.html"))
    proc = subprocess.Popen(
        [*base_command(), "parse", str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    assert orjson.loads(first)["message_id"]
    proc.stdout.close()
    err = proc.stderr.read().decode()
    code = proc.wait(timeout=30)
    assert code == 141, err
    assert err == "", err


# --- bad input: one clear line, exit 1, bounded time and memory -------------------------------


@pytest.mark.timeout(300)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_exits_1_with_one_clear_line(case: BadInput, tmp_path: Path) -> None:
    path = case.build(tmp_path)
    with pytest.raises(DumpError) as raised:
        read_all(path)
    result = run(["parse", str(path)], tmp_path, timeout=240)
    assert result.code == 1, str(result)
    assert "Traceback" not in result.err, str(result)
    lines = result.err.splitlines()
    assert lines[0] == f"tg-pipeline: error: {raised.value}", str(result)
    assert case.names in lines[0]
    assert "rejected as a whole" in lines[-1], str(result)
    assert len(lines) <= 3, str(result)
    if case.large:
        assert result.peak_rss_mb < MAX_RSS_MB, str(result)


def test_rejection_after_printed_records_says_they_are_incomplete(tmp_path: Path) -> None:
    """A bad date on page 2: page 1 was already printed, and the error says it is no dump."""
    folder = tmp_path / "late_damage"
    folder.mkdir()
    for page in sorted((OWN_FIXTURES / "channel" / "html").glob("messages*.html")):
        shutil.copy(page, folder / page.name)
    page2 = folder / "messages2.html"
    text = page2.read_text(encoding="utf-8")
    titles = list(re.finditer(r'title="(\d\d\.\d\d\.\d{4}) ', text))
    victim = titles[-1]
    page2.write_text(text[: victim.start(1)] + "31.02.2023" + text[victim.end(1) :], "utf-8")
    result = run(["parse", str(folder), "--batch-size", "1"], tmp_path)
    assert result.code == 1, str(result)
    printed = len(result.out.splitlines())
    assert printed > 0, "page 1 streams out before page 2 is read"
    lines = result.err.splitlines()
    assert "messages2.html" in lines[0], str(result)
    assert lines[1] == (
        f"tg-pipeline: the {printed} records printed before the error are not a complete dump"
    )
    assert "rejected as a whole" in lines[2]


# --- the group's shared options ---------------------------------------------------------------


def _probe_group() -> tuple[click.Group, list[object]]:
    """The real group's options and callback, with one extra command that reports ctx.obj."""
    seen: list[object] = []

    @click.command("probe")
    @click.pass_context
    def probe(ctx: click.Context) -> None:
        seen.append(ctx.find_root().obj)

    group = click.Group("tg-pipeline", params=main.params, callback=main.callback)
    group.add_command(probe)
    return group, seen


def test_shared_options_reach_every_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    group, seen = _probe_group()
    monkeypatch.delenv("TG_DATA_DIR", raising=False)
    monkeypatch.delenv("TG_DAGSTER_URL", raising=False)
    runner = CliRunner()
    assert runner.invoke(group, ["probe"]).exit_code == 0
    assert seen[-1] == CliContext(data_dir=Path("data"), url=None, debug=False)
    result = runner.invoke(group, ["probe"], env={"TG_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 0
    assert seen[-1] == CliContext(data_dir=tmp_path, url=None, debug=False)
    args = ["--data-dir", "elsewhere", "--url", "http://127.0.0.1:3000", "--debug", "probe"]
    assert runner.invoke(group, args, env={"TG_DATA_DIR": str(tmp_path)}).exit_code == 0
    assert seen[-1] == CliContext(
        data_dir=Path("elsewhere"), url="http://127.0.0.1:3000", debug=True
    )
    assert "parse" in main.list_commands(click.Context(main))


def test_a_folder_missing_its_first_page_says_so_in_one_line(tmp_path: Path) -> None:
    """The devcomputaria export as published: page 1 renamed to index.html."""
    source = shared_fixture("real_exports", "devcomputaria_channel_html")
    folder = tmp_path / "devcomputaria"
    shutil.copytree(source, folder)
    proc = subprocess.run(
        [*base_command(), "parse", str(folder)],
        capture_output=True,
        env=clean_env(),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert len(proc.stdout.splitlines()) == 471
    warnings = [line for line in proc.stderr.decode().splitlines() if "missing page" in line]
    assert warnings == [
        f"{folder / 'messages.html'}: missing page: messages2.html links to it as its "
        "previous page; the pages present are read without it"
    ]
