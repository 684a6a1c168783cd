"""A step's run as the core sees it: its audit context, how it names itself as the warehouse
holder, and the dump it is about."""

from __future__ import annotations

import dagster as dg

from tg_pipeline.defs.names import PARTITION_TAG
from tg_pipeline.defs.shared import run_audit
from tg_pipeline.ingest import DataPaths, RunContext, outbox_sink


def run_context(
    context: dg.OpExecutionContext | dg.AssetExecutionContext, paths: DataPaths
) -> RunContext:
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
    return context.run.tags.get(PARTITION_TAG)
