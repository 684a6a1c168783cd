"""A run whose process died is ended by the next sweep: the inbox sensor's, here."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import dagster as dg

from tg_pipeline.defs.names import WAREHOUSE_POOL
from tg_pipeline.defs.shared.dead_runs import sweep_dead_runs
from tg_pipeline.defs.telegram.sensors import inbox_sensor
from tg_pipeline_tests.dagster_harness import definitions_for, make_settings

#: A run's process as far as a sweep can tell: it holds the run's liveness marker.
_RUN_PROCESS = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from tg_pipeline import liveness

    with liveness.run_alive(Path(sys.argv[1]), sys.argv[2]):
        print("running", flush=True)
        sys.stdin.read()
    """
)


def test_a_run_whose_process_was_killed_is_failed_and_frees_its_slot(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    data_dir = settings.paths().ensure().data_dir
    run_id = str(uuid.uuid4())
    with dg.instance_for_test(overrides={"concurrency": {"pools": {"default_limit": 1}}}) as inst:
        inst.add_run(
            dg.DagsterRun(job_name="ingest_job", run_id=run_id, status=dg.DagsterRunStatus.STARTED)
        )
        inst.event_log_storage.claim_concurrency_slot(WAREHOUSE_POOL, run_id, "messages")
        proc = subprocess.Popen(
            [sys.executable, "-c", _RUN_PROCESS, str(data_dir), run_id],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "running"
            # Alive: a sweep leaves it alone, however long it takes.
            assert sweep_dead_runs(inst, data_dir) == []
            assert inst.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED
        finally:
            proc.kill()
            proc.wait(timeout=30)

        context = dg.build_sensor_context(
            instance=inst, resources={"settings": settings}, definitions=definitions_for(settings)
        )
        inbox_sensor(context)

        run = inst.get_run_by_id(run_id)
        assert run.status == dg.DagsterRunStatus.FAILURE
        info = inst.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
        assert info.claimed_slots == []
        failure = inst.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records[
            0
        ]
        assert f"pid {proc.pid}" in (failure.event_log_entry.message or "")
        # Swept once: the marker is gone, the next sweep has nothing to do.
        assert sweep_dead_runs(inst, data_dir) == []
