"""What every asset of the telegram group shares: owners, the run's audit context, failures."""

from __future__ import annotations

import dagster as dg

from tg_pipeline import run_audit
from tg_pipeline.ingest import DataPaths, RunContext, outbox_sink

GROUP = "telegram"
OWNERS = ["team:data-platform"]
#: Every step that opens the DuckDB file takes a slot of this pool; its limit is 1
#: (dagster.yaml), so writers in different runs take turns instead of failing on the lock.
WAREHOUSE_POOL = "warehouse"
#: The resource every step that touches the warehouse requires: it holds the warehouse for
#: the whole run (see :mod:`tg_pipeline.resources.guard`).
GUARD_KEY = "warehouse_guard"


def run_context(context: dg.OpExecutionContext | dg.AssetExecutionContext, paths: DataPaths):
    """The run's identity for audit events, which go to the outbox under the data dir.

    The run's ``run_started`` goes first, so that on the audit topic a run's events follow
    it; the run's hooks write it again after each step, which the outbox ignores.
    """
    sink = outbox_sink(paths.data_dir)
    sink([run_audit.run_started(context.instance, context.run)])
    return RunContext(
        run_id=context.run_id,
        job=context.job_name,
        emit=sink,
        log=context.log.info,
    )


def owner_of(context: dg.OpExecutionContext | dg.AssetExecutionContext) -> str:
    """How a busy warehouse names its holder to whoever is kept waiting."""
    return f"dagster run {context.run_id[:8]} ({context.job_name}, step {context.op_def.name})"


def run_partition(context: dg.AssetExecutionContext) -> str | None:
    """The dump a run is about, also for unpartitioned assets inside a partitioned run."""
    return context.run.tags.get("dagster/partition")
