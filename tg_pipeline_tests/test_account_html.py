"""A whole-account export in HTML: one dump of every chat, through every door.

The synthetic writer lays the account out as tdesktop does (``export_results.html``,
``lists/chats.html``, ``chats/chat_NN/messages*.html``); the same account is also written as
``result.json``. Read, the two agree chat by chat, field by field, chat ids aside; ingested,
the HTML gives one chat per listed chat, and the JSON export ingested afterwards gives each
its real id without making a second one.
"""

from __future__ import annotations

import logging
import shutil
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from tg_pipeline.defs.telegram.sensors import inbox_sensor
from tg_pipeline.errors import DumpError
from tg_pipeline.ingest import DataPaths
from tg_pipeline.readers import open_dump, read_dump
from tg_pipeline.records import ReadOptions, batch_to_dicts
from tg_pipeline_tests.cli_tests.conftest import run_cli
from tg_pipeline_tests.dagster_harness import definitions_for, drop, ingest, make_settings, scalar
from tg_pipeline_tests.fixtures.chats import wide_account
from tg_pipeline_tests.readers_tests.format_pairs import chat_differences
from tg_pipeline_tests.synthetic import Account, render_account_json, write_account_html
from tg_pipeline_tests.synthetic.html_account import LIST_TYPES
from tg_pipeline_tests.test_job_execute import REPO_ROOT, _env, dagster_job_execute

ACCOUNT = wide_account(32)
CHATS = ACCOUNT.chats + ACCOUNT.left_chats
MESSAGES = sum(len(list(chat.messages)) for chat in CHATS)


def _write(root: Path, account: Account = ACCOUNT) -> tuple[Path, Path]:
    html = root / "DataExport_2024-05-01"
    write_account_html(account, html, per_page=3)
    json_path = root / "json" / "result.json"
    json_path.parent.mkdir(parents=True)
    json_path.write_text(render_account_json(account), encoding="utf-8", newline="\n")
    return html, json_path


def _read(path: Path) -> dict[str, list[dict[str, Any]]]:
    chats: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with open_dump(path) as dump:
        for batch in read_dump(dump):
            for row in batch_to_dicts(batch):
                chats[row["chat_name"]].append(row)
    return dict(chats)


def test_html_account_reads_like_its_json_export(tmp_path: Path) -> None:
    html_path, json_path = _write(tmp_path)
    html, json = _read(html_path), _read(json_path)
    assert len(CHATS) >= 30
    assert list(html) == list(json) == [chat.name for chat in CHATS]
    problems: list[str] = []
    for name, json_rows in json.items():
        html_rows = html[name]
        problems += [f"{name}: {p}" for p in chat_differences(json_rows, html_rows)]
        json_types = {LIST_TYPES[row["chat_type"]] for row in json_rows}
        html_types = {row["chat_type"] for row in html_rows}
        if len(json_types) != 1 or json_types != html_types:
            problems.append(f"{name}: chat types json={json_types} html={html_types}")
        if any(r["chat_id"] is not None for r in html_rows):
            problems.append(f"{name}: an HTML row carries a chat id")
    assert not problems, "\n".join(problems)


def _chat_table(paths: DataPaths) -> tuple[int, int, int]:
    return (
        scalar(paths, "SELECT count(*) FROM chats"),
        scalar(paths, "SELECT count(*) FROM chats WHERE is_surrogate"),
        scalar(paths, "SELECT count(*) FROM messages"),
    )


def test_html_account_through_the_drop_folder_then_its_json(tmp_path: Path) -> None:
    html_path, json_path = _write(tmp_path)
    settings = make_settings(tmp_path / "data")
    paths = settings.paths()
    drop(html_path, paths.inbox)
    defs = definitions_for(settings)
    with dg.instance_for_test() as instance:
        cursor = None
        requests: list[dg.RunRequest] = []
        for _ in range(2):
            context = dg.build_sensor_context(
                instance=instance,
                cursor=cursor,
                resources={"settings": settings},
                definitions=defs,
            )
            result = inbox_sensor(context)
            assert isinstance(result, dg.SensorResult)
            cursor = result.cursor
            for request in result.dynamic_partitions_requests or []:
                instance.add_dynamic_partitions(request.partitions_def_name, request.partition_keys)
            requests += result.run_requests or []
        assert len(requests) == 1
        run = defs.resolve_job_def("ingest_job").execute_in_process(
            instance=instance,
            partition_key=requests[0].partition_key,
            run_config=requests[0].run_config,
            tags=requests[0].tags,
        )
        assert run.success
        assert _chat_table(paths) == (len(CHATS), len(CHATS), MESSAGES)
        assert ingest(instance, defs, json_path).success
    assert _chat_table(paths) == (len(CHATS), 0, MESSAGES)
    assert scalar(paths, "SELECT count(DISTINCT chat_id) FROM messages") == len(CHATS)


def test_html_account_through_the_cli(tmp_path: Path) -> None:
    html_path, _ = _write(tmp_path)
    data = tmp_path / "data"
    result = run_cli("ingest", str(html_path), "--format", "jsonl", data_dir=data)
    assert result.code == 0, str(result)
    (summary,) = result.jsonl()
    assert summary["status"] == "ingested" and summary["new"] == MESSAGES
    assert _chat_table(DataPaths.under(data)) == (len(CHATS), len(CHATS), MESSAGES)
    # One chat's folder dropped on its own is that same chat, already complete.
    folder = html_path / "chats" / "chat_07"
    alone = run_cli("ingest", str(folder), "--format", "jsonl", data_dir=data)
    assert alone.code == 0, str(alone)
    (again,) = alone.jsonl()
    assert (again["new"], again["updated"]) == (0, 0)
    assert again["unchanged"] == len(list(CHATS[6].messages))
    assert _chat_table(DataPaths.under(data)) == (len(CHATS), len(CHATS), MESSAGES)


@pytest.mark.slow
def test_html_account_through_dagster_job_execute(tmp_path: Path) -> None:
    html_path, _ = _write(tmp_path)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    paths = DataPaths.under(tmp_path / "data")
    drop(html_path, paths.inbox)
    env = _env(DAGSTER_HOME=str(home), TG_DATA_DIR=str(paths.data_dir))
    run = dagster_job_execute("ingest_inbox_job", cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert [p.name for p in paths.processed.iterdir()] == [html_path.name]
    assert _chat_table(paths) == (len(CHATS), len(CHATS), MESSAGES)


def test_chats_sharing_a_name_are_named_in_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    chats = wide_account(4).chats
    twin = replace(chats[2], id=chats[2].id + 1)
    account = replace(wide_account(4), chats=[*chats, twin], left_chats=[])
    html_path, _ = _write(tmp_path, account)
    caplog.set_level(logging.WARNING, logger="tg_pipeline.readers")
    rows = [row for rows in _read(html_path).values() for row in rows]
    assert len(rows) == sum(len(list(chat.messages)) for chat in account.chats)
    (warning,) = [r.getMessage() for r in caplog.records if "all named" in r.getMessage()]
    assert "chat_3, chat_5" in warning and repr(chats[2].name) in warning


def test_one_chat_id_is_refused_for_a_whole_account(tmp_path: Path) -> None:
    html_path, _ = _write(tmp_path, wide_account(3))
    with open_dump(html_path) as dump, pytest.raises(DumpError, match="holds several chats"):
        list(read_dump(dump, ReadOptions(chat_id=42)))
