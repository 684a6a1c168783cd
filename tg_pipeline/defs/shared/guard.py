"""``warehouse_guard``: a run's exclusive hold on the warehouse, for the whole run.

Every step that reads or writes the warehouse requires this resource, and Dagster sets a
run's resources up once, before its first step, and tears them down after its last one
(every job uses the in-process executor). So a run that touches the warehouse:

1. marks itself alive (:mod:`tg_pipeline.liveness`) and ends the runs whose process died
   (:mod:`tg_pipeline.defs.shared.dead_runs`), which gives back their pool slots;
2. waits for the warehouse lock (:mod:`tg_pipeline.warehouse.lock`), logging who holds it;
   the kernel drops a dead holder's lock, so only a live run is ever waited for;
3. brings the per-user counts back in line if a crashed run left them stale;
4. runs all its steps and checks with no other run's write in between, so a check always
   sees exactly what its own run's steps wrote.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import dagster as dg

from tg_pipeline import liveness
from tg_pipeline.defs.shared.dead_runs import sweep_dead_runs
from tg_pipeline.defs.shared.pool import match_warehouse_pool
from tg_pipeline.events import emit, make_count_event
from tg_pipeline.ingest import DataPaths
from tg_pipeline.warehouse.backend import WarehouseTarget
from tg_pipeline.warehouse.lock import Holder, hold_warehouse

GUARD_KEY = "warehouse_guard"


@dataclass(frozen=True)
class WarehouseGuard:
    """What a step can ask of its run's hold (nothing yet beyond the paths it covers)."""

    run_id: str
    paths: DataPaths


def heal_counts(
    paths: DataPaths,
    *,
    run_id: str | None,
    job: str | None,
    log: Callable[[str], object],
    target: WarehouseTarget | None = None,
) -> int:
    """Recompute the counts when a run died between storing messages and counting them;
    returns how many counts changed (each one goes out as a count event)."""
    target = target or WarehouseTarget(paths.warehouse)
    if not target.on_postgres and not paths.warehouse.exists():
        return 0
    with target.open(owner=f"dagster run {run_id}") as warehouse:
        if not warehouse.counts_stale():
            return 0
        changed = warehouse.refresh_counts()
    events = [make_count_event(s, run_id=run_id, job=job, dump=None) for s in changed]
    if events:
        emit(paths.data_dir, events)
    log(
        f"counts were stale (a run ended between storing messages and counting them); "
        f"recomputed: {len(changed)} count(s) changed"
    )
    return len(changed)


@dg.resource(
    required_resource_keys={"settings"},
    description=(
        "Holds the warehouse lock for the whole run (the kernel drops it if the run's "
        "process dies), ends runs whose process is gone, and heals stale counts."
    ),
)
def warehouse_guard(init_context: dg.InitResourceContext) -> Iterator[WarehouseGuard]:
    settings = init_context.resources.settings
    paths: DataPaths = settings.paths().ensure()
    target: WarehouseTarget = settings.warehouse()
    run = init_context.dagster_run
    run_id = run.run_id if run is not None else "ephemeral"
    job = run.job_name if run is not None else None
    log = init_context.log
    assert log is not None, "Dagster gives every resource initialisation a log manager"

    def waiting(holder: Holder | None) -> None:
        who = holder.describe() if holder is not None else "another process"
        log.info(f"waiting for the warehouse, held by {who}")

    with liveness.run_alive(paths.data_dir, run_id):
        if init_context.instance is not None:
            sweep_dead_runs(init_context.instance, paths.data_dir, log=log.warning)
            match_warehouse_pool(init_context.instance, target)
        with contextlib.ExitStack() as held:
            # DuckDB's writers take turns through the lock; PostgreSQL's run side by side.
            if target.writers_take_turns:
                held.enter_context(
                    hold_warehouse(
                        paths.warehouse,
                        run_id=run_id,
                        owner=f"dagster run {run_id} ({job})",
                        on_wait=waiting,
                    )
                )
            heal_counts(paths, run_id=run_id, job=job, log=log.warning, target=target)
            yield WarehouseGuard(run_id=run_id, paths=paths)


#: How a step asks for the guard: ``warehouse_guard: GuardParam``. Requiring it is what
#: makes the run hold the warehouse before its first step.
GuardParam = dg.ResourceParam[WarehouseGuard]
