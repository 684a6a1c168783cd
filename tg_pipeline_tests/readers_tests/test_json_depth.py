"""Deep nesting is refused before the parser builds it, under a memory cap, and quarantined.

The hostile files run in subprocesses with an address-space cap, so that a guard that
stopped working fails the test instead of taking the machine's memory.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tg_pipeline.errors import DumpError
from tg_pipeline.readers.json_depth import MAX_DEPTH
from tg_pipeline_tests.cli_tests.test_parse import base_command, clean_env, run
from tg_pipeline_tests.readers_tests.test_bad_input import read_all

#: Address space a capped reader may use; the reader alone needs about 150 MB.
CAP_BYTES = 1 << 30
#: An ingest also opens DuckDB, whose threads and buffer pool reserve address space they
#: never touch; the cap still sits far below what an unguarded 100,000-level file takes.
INGEST_CAP_BYTES = 4 << 30
MAX_RSS_MB = 300
HEAD = (
    '{\n "name": "Deep", "type": "personal_chat", "id": 7,\n "messages": [\n  {\n'
    '   "id": 1, "type": "message", "date": "2023-01-01T10:00:00",\n'
    '   "date_unixtime": "1672567200", "from": "A", "from_id": "user1", "text": "hi",\n'
    '   "weird": '
)
TAIL = "\n  }\n ]\n}\n"


def nested_export(path: Path, levels: int) -> Path:
    """One message whose unknown field (kept in ``extra``) nests ``levels`` lists deep."""
    path.write_text(HEAD + "[" * levels + "]" * levels + TAIL, encoding="utf-8")
    return path


def _cap() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CAP_BYTES, CAP_BYTES))


def _ingest_cap() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (INGEST_CAP_BYTES, INGEST_CAP_BYTES))


@pytest.mark.timeout(120)
def test_hundred_thousand_levels_are_refused_in_bounded_memory(tmp_path: Path) -> None:
    path = nested_export(tmp_path / "result.json", 100_000)
    assert path.stat().st_size < 210_000
    result = run(
        ["parse", str(path)], tmp_path, command=["prlimit", f"--as={CAP_BYTES}", *base_command()]
    )
    print(f"refused in {result.seconds:.2f} s, peak {result.peak_rss_mb:.0f} MB")
    assert result.code == 1, str(result)
    lines = result.err.splitlines()
    assert str(path) in lines[0] and "nesting depth exceeded" in lines[0], str(result)
    assert "messages[0]" in lines[0] and "byte " in lines[0], str(result)
    assert "MemoryError" not in result.err
    assert result.peak_rss_mb < MAX_RSS_MB, str(result)


def test_the_limit_is_exact_and_brackets_in_strings_do_not_count(tmp_path: Path) -> None:
    # The message is level 3 and its field's lists start at level 4.
    at_limit = nested_export(tmp_path / "at.json", MAX_DEPTH - 3)
    assert read_all(at_limit) == 1
    over = nested_export(tmp_path / "over.json", MAX_DEPTH - 2)
    with pytest.raises(DumpError, match="nesting depth exceeded") as raised:
        read_all(over)
    assert raised.value.file == str(over)
    text = tmp_path / "text.json"
    text.write_text(HEAD + '"' + "[{" * 50_000 + '"' + TAIL, encoding="utf-8")
    assert read_all(text) == 1


def test_nesting_in_a_skipped_account_section_is_refused(tmp_path: Path) -> None:
    """A section the reader skips is pruned from the tree while the parser still fills it."""
    path = tmp_path / "result.json"
    levels = 20_000
    path.write_text(
        '{"about": "x", "personal_information": {"a": '
        + "[" * levels
        + "]" * levels
        + '}, "chats": {"list": []}}',
        encoding="utf-8",
    )
    command = [*base_command(), "parse", str(path)]
    proc = subprocess.run(
        command, capture_output=True, text=True, env=clean_env(), preexec_fn=_cap, timeout=60
    )
    assert proc.returncode == 1, proc.stderr
    assert "nesting depth exceeded" in proc.stderr.splitlines()[0]


_INGEST = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from tg_pipeline.ingest import DataPaths, RunContext, inbox_entries, ingest_paths
    from tg_pipeline.records import ReadOptions
    from tg_pipeline.warehouse import Warehouse

    paths = DataPaths.under(Path(sys.argv[1])).ensure()
    with Warehouse.open(paths.warehouse) as wh:
        outcome = ingest_paths(
            inbox_entries(paths.inbox), wh, paths, ReadOptions(),
            run=RunContext(run_id="r1", job="test", emit=lambda events: None),
        )
    for _, error in outcome.failures:
        print(type(error).__name__, error)
    """
)


@pytest.mark.timeout(120)
def test_a_deep_dump_in_the_inbox_is_quarantined_and_not_left_to_retry(tmp_path: Path) -> None:
    data = tmp_path / "data"
    inbox = data / "inbox"
    inbox.mkdir(parents=True)
    nested_export(inbox / "deep.json", 100_000)
    proc = subprocess.run(
        [sys.executable, "-c", _INGEST, str(data)],
        capture_output=True,
        text=True,
        env=clean_env(),
        preexec_fn=_ingest_cap,
        timeout=100,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("DumpError ") and "nesting depth exceeded" in proc.stdout
    # The dump left the inbox for the quarantine: the sensor retries only inbox entries.
    assert list(inbox.iterdir()) == []
    report = (data / "quarantine" / "deep.json.error.txt").read_text(encoding="utf-8")
    assert "nesting depth exceeded" in report
