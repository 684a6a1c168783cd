"""Ingest everything in the inbox in one run, with no partition chosen beforehand.

`dagster job execute -m tg_pipeline.definitions -j ingest_inbox_job` has no sensor and no
daemon behind it, so this op does the sensor's part itself: it registers each dump as a
`dumps` partition and then runs the same core ingest the assets run. It reports
materializations of `raw_dump`, `messages` (per dump partition), `user_message_counts` and
`chat_report`, so the asset catalog shows these dumps exactly as if the sensor had found them.
"""

import dagster as dg

from tg_pipeline.defs.names import (
    CHAT_REPORT,
    DUMPS,
    MESSAGES,
    RAW_DUMP,
    USER_MESSAGE_COUNTS,
    WAREHOUSE_POOL,
)
from tg_pipeline.defs.shared.context import owner_of, run_context
from tg_pipeline.defs.shared.guard import GuardParam
from tg_pipeline.defs.shared.settings import PipelineSettings
from tg_pipeline.defs.telegram.assets.counts import counts_metadata, queue_counts
from tg_pipeline.defs.telegram.assets.metadata import (
    duplicates_line,
    messages_metadata,
    raw_dump_metadata,
)
from tg_pipeline.defs.telegram.assets.report import refresh_report
from tg_pipeline.ingest import StagedDump, inbox_entries, ingest_paths
from tg_pipeline.warehouse import IngestResult


@dg.op(
    pool=WAREHOUSE_POOL,
    description=(
        "Ingests every dump in the inbox, one after another: registers a `dumps` partition "
        "for it, keeps its raw copy, upserts it, moves it to `data/processed/`, then "
        "recomputes the per-user counts. Content already registered is skipped as a "
        "duplicate. A dump that cannot be read is quarantined with an error report while "
        "the others still load; the run then fails naming it."
    ),
)
def ingest_inbox(
    context: dg.OpExecutionContext, settings: PipelineSettings, warehouse_guard: GuardParam
) -> None:
    paths = settings.paths().ensure()
    entries = inbox_entries(paths.inbox)
    if not entries:
        context.log.info(f"inbox {paths.inbox} is empty; nothing to ingest")
        return
    context.log.info(f"{len(entries)} inbox entr(ies) in {paths.inbox}")
    instance = context.instance
    known = instance.get_dynamic_partitions(DUMPS)

    def on_staged(staged: StagedDump) -> None:
        if not instance.has_dynamic_partition(DUMPS, staged.dump_id):
            instance.add_dynamic_partitions(DUMPS, [staged.dump_id])
        context.log_event(
            dg.AssetMaterialization(
                asset_key=RAW_DUMP,
                partition=staged.dump_id,
                metadata=raw_dump_metadata(staged),
            )
        )

    with settings.warehouse().open(owner=owner_of(context)) as warehouse:

        def on_ingested(staged: StagedDump, result: IngestResult) -> None:
            context.log.info(
                f"dump {staged.dump_id}: {result.new} new, {result.updated} updated, "
                f"{result.unchanged} unchanged, {result.duplicates} duplicates "
                f"of {result.rows} rows"
            )
            if result.duplicates:
                context.log.warning(duplicates_line(staged.dump_id, result))
            context.log_event(
                dg.AssetMaterialization(
                    asset_key=MESSAGES,
                    partition=staged.dump_id,
                    metadata=messages_metadata(result, warehouse, staged),
                )
            )

        outcome = ingest_paths(
            entries,
            warehouse,
            paths,
            settings.read_options(),
            known_dumps=known,
            run=run_context(context, paths),
            on_staged=on_staged,
            on_ingested=on_ingested,
        )
        for source, dump_id in outcome.duplicates:
            context.log.info(f"{source.name}: same content as dump {dump_id}; skipped")
        changed = warehouse.refresh_counts() if outcome.ingested else []
        metadata = counts_metadata(warehouse, changed) if outcome.ingested else None
        report = (
            refresh_report(warehouse, paths, settings.default_zone) if outcome.ingested else None
        )
        # Also when nothing new came in: count changes an earlier run could not queue go now.
        queued = queue_counts(context, warehouse, paths, dump=None, job=context.job_name)

    if metadata is not None:
        metadata["count_events"] = queued
        context.log_event(dg.AssetMaterialization(asset_key=USER_MESSAGE_COUNTS, metadata=metadata))
    if report is not None:
        context.log_event(dg.AssetMaterialization(asset_key=CHAT_REPORT, metadata=report))
    if outcome.failures:
        lines = [f"{source.name}: {err}" for source, err in outcome.failures]
        for line in lines:
            context.log.error(f"quarantined {line}")
        raise dg.Failure(
            description=(
                f"{len(outcome.failures)} dump(s) could not be read and were moved to "
                f"{paths.quarantine}:\n" + "\n".join(lines)
            ),
            metadata={
                "ingested": len(outcome.ingested),
                "duplicates": len(outcome.duplicates),
                "quarantined": len(outcome.failures),
            },
        )
    context.log.info(
        f"{len(outcome.ingested)} dump(s) ingested, {len(outcome.duplicates)} duplicate(s)"
    )
