"""``chat_report`` materialized for real: in-process after an ingest, by ``dagster job
execute``, and shown on its asset page in the Dagster UI."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from tg_pipeline.ingest import DataPaths
from tg_pipeline_tests.dagster_harness import (
    definitions_for,
    drop,
    ingest,
    make_settings,
    materialization_metadata,
)
from tg_pipeline_tests.deploy_tests.test_deployment import _dismiss_community_dialog
from tg_pipeline_tests.report_tests.browser import assert_png, chromium_path
from tg_pipeline_tests.test_job_execute import REPO_ROOT, _env, dagster_job_execute
from tg_pipeline_tests.webserver import running_webserver

SEED_CHAT_ID = 1124496986


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test(overrides={"concurrency": {"pools": {"default_limit": 1}}}) as inst:
        yield inst


def test_ingest_job_leaves_the_report_current(seed_dir: Path, instance, tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", default_zone="Asia/Tokyo")
    defs = definitions_for(settings)

    first = ingest(instance, defs, seed_dir / "result.json")
    meta = materialization_metadata(first, "chat_report")
    index = Path(meta["report"])
    assert index == tmp_path / "data" / "report" / "index.html" and index.is_file()
    assert meta["open_in_browser"] == index.as_uri()
    assert (meta["chats"], meta["messages"], meta["pages_drawn"]) == (1, 10, 1)
    table = meta["per_chat"]
    columns = {c.name: c.type for c in table.schema.columns}
    assert columns["chat"] == "string" and columns["messages"] == "int"
    row = table.records[0].data
    assert (row["chat"], row["chat_id"], row["messages"], row["senders"]) == (
        "chat name",
        SEED_CHAT_ID,
        10,
        6,
    )
    assert row["top_sender"] == "username8 (3)"
    # JSON carries no zone: the configured default applies.
    assert (row["time_zone"], row["busiest_day"]) == ("Asia/Tokyo", "2022-08-31")

    counts = materialization_metadata(first, "user_message_counts")
    per_chat = counts["per_chat"]
    assert [c.type for c in per_chat.schema.columns] == [
        "string", "int", "int", "int", "string", "string"
    ]  # fmt: skip
    assert per_chat.records[0].data["top_senders"] == (
        "username8 (3), username4 (2), username3 (2)"
    )
    assert counts["top_senders"].records[0].data == {
        "sender": "username8",
        "chat": "chat name",
        "messages": 3,
        "first_message_utc": "2022-08-31 09:01",
        "last_message_utc": "2022-08-31 09:02",
    }

    # The HTML half of the pair changes no message the JSON gave: nothing is redrawn, but
    # the chat now has an HTML export, whose UTC offset the page then uses.
    second = ingest(instance, defs, seed_dir / "messages.html")
    meta = materialization_metadata(second, "chat_report")
    assert meta["pages_drawn"] == 1
    assert meta["per_chat"].records[0].data["time_zone"] == "UTC+03:00"
    page = (tmp_path / "data" / "report" / f"chat-{SEED_CHAT_ID}.html").read_text()
    assert "<dt>First message</dt><dd>2022-08-31 12:01</dd>" in page

    rebuilt = defs.resolve_job_def("report_job").execute_in_process(instance=instance)
    assert materialization_metadata(rebuilt, "chat_report")["pages_drawn"] == 0


@pytest.mark.slow
def test_report_by_dagster_job_execute_and_on_its_asset_page(
    tmp_path: Path, seed_dir: Path
) -> None:
    chromium = chromium_path()
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    paths = DataPaths.under(tmp_path / "data")
    drop(seed_dir / "result.json", paths.inbox, "seed_chat.json")
    env = _env(DAGSTER_HOME=str(home), TG_DATA_DIR=str(paths.data_dir))

    ingested = dagster_job_execute("ingest_inbox_job", cwd=tmp_path, env=env)
    assert ingested.returncode == 0, ingested.stdout + ingested.stderr
    report = dagster_job_execute("report_job", cwd=tmp_path, env=env)
    assert report.returncode == 0, report.stdout + report.stderr
    assert "ASSET_MATERIALIZATION" in report.stdout + report.stderr
    assert (paths.data_dir / "report" / f"chat-{SEED_CHAT_ID}.html").is_file()

    from playwright.sync_api import sync_playwright

    with (
        running_webserver(home, env={"TG_DATA_DIR": str(paths.data_dir)}) as url,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1100})
            for asset, expected in (
                ("chat_report", ("per_chat", "top_sender", "username8 (3)", "index.html")),
                ("user_message_counts", ("per_chat", "top_senders", "username8 (3)")),
            ):
                page.goto(f"{url}/assets/{asset}")
                _dismiss_community_dialog(page)
                page.get_by_text("Latest materialization").first.wait_for(timeout=60_000)
                _dismiss_community_dialog(page)
                for text in expected:
                    page.get_by_text(re.compile(re.escape(text))).first.wait_for(timeout=30_000)
                page.get_by_text("per_chat", exact=True).first.scroll_into_view_if_needed()
                page.screenshot(path=str(tmp_path / f"{asset}.png"))
                body = page.inner_text("body")
                assert "Something went wrong" not in body and "PythonError" not in body
        finally:
            browser.close()
    assert_png(tmp_path / "chat_report.png")
    assert_png(tmp_path / "user_message_counts.png")
