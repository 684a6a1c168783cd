"""One export holding a chat's history twice (its ids restart mid-way) says so.

The repeats are stored once, counted as duplicates in the ingest summary, and the first
few are named with every place the dump holds them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tg_pipeline.ingest import DataPaths
from tg_pipeline_tests.cli_tests.conftest import run_cli
from tg_pipeline_tests.dagster_harness import scalar
from tg_pipeline_tests.fixtures.chats import fixtures
from tg_pipeline_tests.synthetic import write_html_pages

(CHANNEL,) = [f.chat for f in fixtures() if f.name == "channel"]


@pytest.mark.slow
def test_history_twice_in_one_dump_is_counted_as_duplicates(tmp_path: Path) -> None:
    messages = list(CHANNEL.messages)
    twice = replace(CHANNEL, messages=messages + messages)
    folder = tmp_path / "ChatExport_twice"
    pages = write_html_pages(twice, folder, per_page=len(messages))
    assert len(pages) == 2
    data = tmp_path / "data"

    result = run_cli("ingest", str(folder), "--format", "jsonl", data_dir=data)

    assert result.code == 0, str(result)
    (summary,) = result.jsonl()
    assert summary["rows"] == 2 * len(messages)
    assert summary["new"] == len(messages)
    assert summary["duplicates"] == len(messages)
    assert summary["unchanged"] == 0
    assert scalar(DataPaths.under(data), "SELECT count(*) FROM messages") == len(messages)
    # The run log names the first repeat at both of its places, one page each.
    first = messages[0].id
    warning = next(line for line in result.err.splitlines() if "repeat a message" in line)
    assert f"message {first} of chat" in warning
    assert f"messages.html element 2 (message{first})" in warning
    assert f"messages2.html element 2 (message{first})" in warning
