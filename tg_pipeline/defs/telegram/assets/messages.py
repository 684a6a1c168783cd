"""``messages``: one dump's records upserted into the warehouse, all of them or none."""

from collections.abc import Iterator

import dagster as dg
from pydantic import Field

from tg_pipeline.defs.names import OWNERS, TELEGRAM_GROUP, WAREHOUSE_POOL
from tg_pipeline.defs.shared.context import owner_of, run_context
from tg_pipeline.defs.shared.guard import GuardParam
from tg_pipeline.defs.shared.settings import PipelineSettings
from tg_pipeline.defs.telegram.assets.metadata import duplicates_line, messages_metadata
from tg_pipeline.defs.telegram.assets.quarantine import quarantine_event
from tg_pipeline.defs.telegram.assets.raw_dump import raw_dump
from tg_pipeline.defs.telegram.partitions import dumps_partitions
from tg_pipeline.errors import DumpError
from tg_pipeline.ingest import ingest_staged, load_staged


class MessagesConfig(dg.Config):
    chat_id: int | None = Field(
        default=None,
        description="Chat id for an HTML dump, which carries none. Empty: join the chat "
        "already known by its name, or give it a stable surrogate id.",
    )


@dg.asset(
    partitions_def=dumps_partitions,
    deps=[raw_dump],
    group_name=TELEGRAM_GROUP,
    kinds={"duckdb"},
    owners=OWNERS,
    pool=WAREHOUSE_POOL,
    output_required=False,
    description=(
        "All messages and service entries, keyed by (chat_id, message_id). Materializing a "
        "dump partition streams that dump's raw copy into the DuckDB warehouse in one "
        "transaction: new messages are added, a newer edit replaces the stored one, "
        "everything else is left alone, so re-ingesting a dump changes nothing. On success "
        "the inbox entry moves to `data/processed/`; a dump that fails to read moves to "
        "`data/quarantine/` with an `.error.txt` report, the warehouse is untouched, and "
        "the `quarantine` asset records it instead of this one failing."
    ),
)
def messages(
    context: dg.AssetExecutionContext,
    config: MessagesConfig,
    settings: PipelineSettings,
    warehouse_guard: GuardParam,
) -> Iterator[dg.MaterializeResult]:
    paths = settings.paths().ensure()
    dump_id = context.partition_key
    staged = load_staged(paths, dump_id)
    if staged is None:
        raise dg.Failure(
            description=f"dump {dump_id} has no raw copy in {paths.raw}; materialize "
            "raw_dump for this partition first"
        )
    options = settings.read_options(chat_id=config.chat_id)
    with settings.warehouse().open(owner=owner_of(context)) as warehouse:
        try:
            result = ingest_staged(
                staged, warehouse, paths, options, run=run_context(context, paths)
            )
        except DumpError as err:
            # The dump is bad, not the pipeline: record it as quarantined and end without
            # a materialization; the steps downstream are skipped.
            context.log.error(f"dump {dump_id} quarantined: {err}")
            context.log_event(
                quarantine_event(
                    dump_id, staged.source, err, stage="read", quarantine_dir=paths.quarantine
                )
            )
            return
        metadata = messages_metadata(result, warehouse, staged)
    context.log.info(
        f"dump {dump_id}: {result.new} new, {result.updated} updated, "
        f"{result.unchanged} unchanged, {result.duplicates} duplicates of {result.rows} rows; "
        f"{len(result.chats)} chat(s), {len(result.senders)} sender(s)"
    )
    if result.duplicates:
        context.log.warning(duplicates_line(dump_id, result))
    yield dg.MaterializeResult(metadata=metadata)
