"""The compose deployment, run as plain processes on loopback (no Docker engine here).

The code server, webserver and daemon are started with the exact commands from
docker-compose.yml, against tg_pipeline/deploy/dagster.yaml on a fresh PostgreSQL database
and a real Kafka-protocol broker. A dump dropped into the inbox must flow through the
daemon's sensor into the warehouse and its audit events into ``audit_log``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from tg_pipeline.deploy import DAGSTER_YAML
from tg_pipeline_tests.conftest import REPO_ROOT, shared_fixture
from tg_pipeline_tests.deploy_tests.compose import localize, project_services
from tg_pipeline_tests.deploy_tests.postgres import fresh_database
from tg_pipeline_tests.deploy_tests.processes import ServiceGroup
from tg_pipeline_tests.kafka_broker import kafka_bootstrap
from tg_pipeline_tests.webserver import _locations_loaded, free_port, graphql

pytestmark = pytest.mark.slow

RUNS_QUERY = """
query {
  runsOrError(limit: 100) {
    __typename
    ... on Runs { results { runId pipelineName status } }
  }
}
"""

FAILED = {"FAILURE", "CANCELED"}


@dataclass
class Deployment:
    url: str
    data_dir: Path
    services: ServiceGroup

    def runs(self) -> list[dict]:
        return graphql(self.url, RUNS_QUERY)["runsOrError"]["results"]

    def wait_for_success(self, job: str, timeout_s: float) -> dict:
        def succeeded() -> dict | None:
            runs = [r for r in self.runs() if r["pipelineName"] == job]
            failed = [r for r in runs if r["status"] in FAILED]
            assert not failed, f"{job} run failed: {failed}\n{self.services.logs()}"
            return next((r for r in runs if r["status"] == "SUCCESS"), None)

        return self.services.wait_for(f"a successful {job} run", succeeded, timeout_s)

    def query(self, sql: str) -> list[tuple]:
        """Read the warehouse once no run holds it (DuckDB allows one process at a time)."""

        def attempt() -> list[tuple]:
            con = duckdb.connect(str(self.data_dir / "warehouse.duckdb"), read_only=True)
            try:
                return con.execute(sql).fetchall() or [("empty",)]
            finally:
                con.close()

        rows = self.services.wait_for(f"warehouse read: {sql}", attempt, 30, every_s=0.5)
        return [] if rows == [("empty",)] else rows


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    seed_html = shared_fixture("chatparser_seed", "messages.html")
    root = tmp_path_factory.mktemp("deployment")
    dagster_home = root / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(DAGSTER_YAML, dagster_home / "dagster.yaml")
    data_dir = root / "data"
    (data_dir / "inbox").mkdir(parents=True)
    started = time.monotonic()

    with fresh_database() as database, kafka_bootstrap(log=root / "broker.log") as bootstrap:
        code_port, web_port = free_port(), free_port()
        env = {
            **database.env(),
            "DAGSTER_HOME": str(dagster_home),
            "TG_DATA_DIR": str(data_dir),
            "TG_CODE_SERVER_HOST": "127.0.0.1",
            "TG_CODE_SERVER_PORT": str(code_port),
            "TG_KAFKA_BOOTSTRAP": bootstrap,
            # The compose commands name bare executables; here they live in this venv.
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        }
        services = ServiceGroup(log_dir=root, env=env, cwd=REPO_ROOT)
        compose = project_services()
        ports = {"4000": code_port, "3000": web_port}
        try:
            services.start(
                "code-server",
                localize(compose["code-server"].command, port_map=ports),
                ports=[code_port],
            )
            health = localize(compose["code-server"].healthcheck or [], port_map=ports)
            services.wait_for(
                "the code server's health check",
                lambda: (
                    subprocess.run(
                        health,
                        env={**os.environ, **env},
                        capture_output=True,
                        timeout=20,
                    ).returncode
                    == 0
                ),
                timeout_s=60,
            )
            services.start(
                "webserver",
                localize(compose["webserver"].command, port_map=ports),
                ports=[web_port],
            )
            url = f"http://127.0.0.1:{web_port}"
            services.wait_for(
                "the webserver to load the code location",
                lambda: _locations_loaded(url),
                timeout_s=60,
            )
            services.start("daemon", localize(compose["daemon"].command, port_map=ports))

            drop = data_dir / "inbox" / "seed_export"
            staging = root / "staging"
            staging.mkdir()
            shutil.copy(seed_html, staging / "messages.html")
            staging.rename(drop)
            yield Deployment(url=url, data_dir=data_dir, services=services)
        finally:
            problems = services.stop_all()
            print(f"deployment up and down in {time.monotonic() - started:.0f} s")
    assert not problems, f"left behind after the deployment test: {problems}"


def test_sensor_ingests_a_dropped_dump_and_audit_events_reach_audit_log(
    deployment: Deployment,
) -> None:
    ingest = deployment.wait_for_success("ingest_job", timeout_s=90)
    (count,) = deployment.query("SELECT count(*) FROM messages")[0]
    assert count == 12
    assert (deployment.data_dir / "processed").exists()

    def audited() -> bool:
        rows = deployment.query(
            "SELECT event_type FROM audit_log WHERE run_id = '" + ingest["runId"] + "'"
        )
        return {"run_succeeded"} <= {r[0] for r in rows}

    deployment.services.wait_for("the ingest run's audit events in audit_log", audited, 90, 2)


ASSETS = (
    "raw_dump",
    "messages",
    "user_message_counts",
    "messages_backup_parquet",
    "messages_backup_csv",
)


def _dismiss_community_dialog(page: object) -> None:
    """A fresh instance greets its first visitor with a newsletter dialog over the page."""
    page.wait_for_timeout(1000)
    skip = page.get_by_role("button", name="Skip")
    if skip.count():
        skip.first.click()


def _assert_no_error_banner(page: object) -> None:
    body = page.inner_text("body")
    for marker in ("Something went wrong", "PythonError", "Unexpected error", "failed to load"):
        assert marker not in body, f"error shown in the UI: {marker}"


def test_ui_in_a_real_browser(deployment: Deployment, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        message = "Debian chromium is not installed"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    deployment.wait_for_success("ingest_job", timeout_s=90)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(f"{deployment.url}/locations/tg_pipeline/asset-groups/telegram")
            page.wait_for_load_state("networkidle")
            _dismiss_community_dialog(page)
            for asset in ASSETS:
                page.get_by_text(asset, exact=True).first.wait_for(timeout=30_000)
            page.screenshot(path=str(tmp_path / "asset_graph.png"))
            _assert_no_error_banner(page)

            page.goto(f"{deployment.url}/automation")
            page.wait_for_load_state("networkidle")
            _dismiss_community_dialog(page)
            for sensor in ("inbox_sensor", "outbox_relay", "audit_log_sensor"):
                page.get_by_text(sensor, exact=True).first.wait_for(timeout=30_000)
            _assert_no_error_banner(page)

            page.goto(f"{deployment.url}/assets/messages")
            page.wait_for_load_state("networkidle")
            _dismiss_community_dialog(page)
            page.get_by_text("Latest materialization").first.wait_for(timeout=30_000)
            page.get_by_text("Row count", exact=True).first.wait_for(timeout=30_000)
            page.screenshot(path=str(tmp_path / "messages_asset.png"), full_page=True)
            body = page.inner_text("body")
            assert re.search(r"Row count\s+12\b", body), body[:2000]
            for label in ("new", "updated", "unchanged"):
                assert re.search(rf"^{label}$", body, re.MULTILINE), f"no {label!r} metadata"
            _assert_no_error_banner(page)
        finally:
            browser.close()
    assert (tmp_path / "asset_graph.png").stat().st_size > 10_000
    assert (tmp_path / "messages_asset.png").stat().st_size > 10_000
