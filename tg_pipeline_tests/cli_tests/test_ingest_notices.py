"""Ingest tells the user what it decided for them: the format it read, the memory it lacked."""

from __future__ import annotations

import shutil
from pathlib import Path

from tg_pipeline_tests.cli_tests.conftest import run_cli
from tg_pipeline_tests.conftest import shared_fixture


def test_a_folder_with_json_and_html_notes_the_pages_left_unread(tmp_path: Path) -> None:
    folder = tmp_path / "ChatExport_both"
    shutil.copytree(shared_fixture("chatparser_seed"), folder)
    result = run_cli("ingest", str(folder), data_dir=tmp_path / "data")
    assert result.code == 0, str(result)
    assert (
        "tg-pipeline: note: ChatExport_both: 1 HTML page(s) next to result.json not read: "
        "the JSON export is preferred" in " ".join(result.err.split())
    ), str(result)
    # The raw copy's manifest keeps the note for the UI and later runs.
    (manifest,) = (tmp_path / "data" / "raw").glob("*/manifest.json")
    assert "HTML page(s) next to result.json not read" in manifest.read_text()


def test_a_run_out_of_memory_names_the_setting_to_raise(tmp_path: Path) -> None:
    from tg_pipeline_tests.cli_tests.conftest import cli_env

    result = run_cli(
        "ingest",
        str(shared_fixture("chatparser_seed", "result.json")),
        data_dir=tmp_path / "data",
        env=cli_env(TG_DUCKDB_MEMORY_LIMIT="2MB"),
    )
    assert result.code == 1, str(result)
    errors = [line for line in result.err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "raise tg_duckdb_memory_limit" in errors[0].lower(), str(result)
    assert "Traceback" not in result.err
