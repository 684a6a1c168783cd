"""``--url``: the same commands against a real dagster-webserver, through its GraphQL API."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tg_pipeline_tests.cli_tests.conftest import (
    assert_one_line_error,
    cli_env,
    messages_jsonl,
    run_cli,
)
from tg_pipeline_tests.webserver import free_port, running_webserver, write_instance_yaml


@pytest.mark.slow
def test_ingest_delete_and_status_through_the_webserver(tmp_path: Path, seed_dir: Path) -> None:
    data_dir = tmp_path / "data"
    home = write_instance_yaml(tmp_path / "dagster_home")
    server_env = cli_env(TG_DATA_DIR=str(data_dir))
    with running_webserver(home, env=server_env) as url:
        # The CLI side has no instance of its own: everything it writes goes to the server.
        env = cli_env(TG_DAGSTER_URL=url)
        result = run_cli(
            "ingest", str(seed_dir / "result.json"), "--format", "jsonl", data_dir=data_dir, env=env
        )
        assert result.code == 0, str(result)
        summaries = result.jsonl()
        assert [(s["status"], s["new"]) for s in summaries] == [("ingested", 12)]

        # Reads go straight to the warehouse the server's runs wrote.
        assert len(messages_jsonl(data_dir)) == 12

        deleted = run_cli("delete", "--kind", "service", "--yes", data_dir=data_dir, env=env)
        assert deleted.code == 0, str(deleted)
        assert "deleted 2 message(s)" in deleted.out
        assert len(messages_jsonl(data_dir)) == 10

        status = run_cli("status", "--format", "json", data_dir=data_dir, env=env)
        assert status.code == 0, str(status)
        report = orjson.loads(status.out)
        assert report["runs"]["where"] == url
        runs = report["runs"]["runs"]
        assert [r["job"] for r in runs] == ["delete_job", "ingest_job"]
        assert {r["status"] for r in runs} == {"SUCCESS"}
        run_ids = {s["run_id"] for s in summaries}
        assert run_ids <= {r["run_id"] for r in runs}
    # The CLI never created a local instance: the runs live in the server's DAGSTER_HOME.
    assert not (data_dir / "dagster_home").exists()


def test_unreachable_url_is_one_clear_line(tmp_path: Path, seed_dir: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run_cli("--url", url, "ingest", str(seed_dir / "result.json"), data_dir=tmp_path / "d")
    assert_one_line_error(result, contains=f"cannot reach dagster-webserver at {url}")
    assert len(result.err.strip().splitlines()) == 1


def test_malformed_url_is_one_clear_line(tmp_path: Path) -> None:
    result = run_cli("--url", "localhost:3000", "backup", data_dir=tmp_path / "d")
    assert_one_line_error(result, contains="--url must be a webserver address")
