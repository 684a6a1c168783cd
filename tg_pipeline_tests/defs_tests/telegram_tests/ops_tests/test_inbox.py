"""ingest_inbox_job in-process: it registers partitions and reports the assets it wrote."""

from collections.abc import Iterator

import dagster as dg
import pytest

from tg_pipeline.defs.names import DUMPS
from tg_pipeline_tests.dagster_harness import definitions_for, drop, make_settings, scalar


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test(overrides={"concurrency": {"pools": {"default_limit": 1}}}) as inst:
        yield inst


def _materialized(instance: dg.DagsterInstance, asset: str) -> list[str | None]:
    records = instance.fetch_materializations(dg.AssetKey(asset), limit=100).records
    return sorted((r.partition_key or "") for r in records)


def test_inbox_job_ingests_every_dump_and_registers_partitions(instance, tmp_path, seed_dir):
    settings = make_settings(tmp_path / "data")
    paths = settings.paths()
    drop(seed_dir / "result.json", paths.inbox, "chat.json")
    drop(seed_dir / "result.json", paths.inbox, "chat_copy.json")
    job = definitions_for(settings).resolve_job_def("ingest_inbox_job")

    result = job.execute_in_process(instance=instance)

    assert result.success
    partitions = instance.get_dynamic_partitions(DUMPS)
    assert len(partitions) == 1 and partitions[0].startswith("chat.json-")
    assert _materialized(instance, "raw_dump") == partitions
    assert _materialized(instance, "messages") == partitions
    assert _materialized(instance, "user_message_counts") == [""]
    assert scalar(paths, "SELECT count(*) FROM messages") == 12
    assert sorted(p.name for p in paths.processed.iterdir()) == ["chat.json", "chat_copy.json"]

    # Run again with the same content dropped: it is recognised and nothing is re-read.
    drop(seed_dir / "result.json", paths.inbox, "chat.json")
    again = job.execute_in_process(instance=instance)
    assert again.success
    assert instance.get_dynamic_partitions(DUMPS) == partitions
    assert len(list(paths.processed.iterdir())) == 3


def test_inbox_job_fails_naming_the_bad_dump_after_loading_the_good_ones(
    instance, tmp_path, seed_dir
):
    settings = make_settings(tmp_path / "data")
    paths = settings.paths()
    drop(seed_dir / "messages.html", paths.inbox)
    paths.inbox.joinpath("zz_broken.json").write_text('{"name": "x", "messages": [{"id": ')

    result = (
        definitions_for(settings)
        .resolve_job_def("ingest_inbox_job")
        .execute_in_process(instance=instance, raise_on_error=False)
    )

    assert not result.success
    error = result.get_step_failure_events()[0].step_failure_data.error
    assert "zz_broken.json" in error.message
    assert scalar(paths, "SELECT count(*) FROM messages") == 12
    assert (paths.quarantine / "zz_broken.json.error.txt").is_file()
    assert list(paths.inbox.iterdir()) == []


def test_empty_inbox_is_a_successful_no_op(instance, tmp_path):
    settings = make_settings(tmp_path / "data")
    job = definitions_for(settings).resolve_job_def("ingest_inbox_job")
    assert job.execute_in_process(instance=instance).success
    assert instance.get_dynamic_partitions(DUMPS) == []
