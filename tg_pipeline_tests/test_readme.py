"""The README shows the commands the tests run, so a documented command cannot rot unseen."""

from __future__ import annotations

from tg_pipeline_tests.cli_tests.readme_examples import EXAMPLES
from tg_pipeline_tests.conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()


def test_every_cli_example_is_in_the_readme_verbatim() -> None:
    missing = [example.line for example in EXAMPLES if example.line not in README]
    assert not missing, f"README lacks the tested examples: {missing}"


def test_dagster_job_execute_commands_are_the_tested_ones() -> None:
    for job in ("ingest_inbox_job", "backup_job"):
        assert f"dagster job execute -m tg_pipeline.definitions -j {job}" in README


def test_readme_names_the_two_commands() -> None:
    assert "make run" in README
    assert "make test" in README
