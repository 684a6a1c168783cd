"""``user_message_counts``: messages per chat and sender, recomputed from the whole table."""

from collections.abc import Sequence
from typing import Any

import dagster as dg

from tg_pipeline.count_events import CountEventsNotQueued, queue_count_events
from tg_pipeline.defs.names import OWNERS, TELEGRAM_GROUP, WAREHOUSE_POOL, Meta
from tg_pipeline.defs.shared.context import owner_of, run_partition
from tg_pipeline.defs.shared.guard import GuardParam
from tg_pipeline.defs.shared.settings import PipelineSettings
from tg_pipeline.defs.telegram.assets.count_tables import per_chat_table, top_senders_table
from tg_pipeline.defs.telegram.assets.messages import messages
from tg_pipeline.defs.telegram.assets.metadata import record_table, table_schema
from tg_pipeline.ingest import DataPaths
from tg_pipeline.warehouse import CountSnapshot
from tg_pipeline.warehouse.backend import WarehouseApi

TOP_SENDERS = 10


@dg.asset(
    deps=[messages],
    group_name=TELEGRAM_GROUP,
    kinds={"duckdb"},
    owners=OWNERS,
    pool=WAREHOUSE_POOL,
    description=(
        "How many messages each sender wrote in each chat, with the first and last message "
        "time. Only real messages count, not service entries (joins, pins, calls). The "
        "table is recomputed from `messages` as a whole, whichever dump changed it, and "
        "every count that changed goes out as a count event (outbox, then Kafka). A change "
        "whose event could not be queued stays pending in the warehouse and goes out with "
        "the next run."
    ),
)
def user_message_counts(
    context: dg.AssetExecutionContext, settings: PipelineSettings, warehouse_guard: GuardParam
) -> dg.MaterializeResult:
    paths = settings.paths().ensure()
    with settings.warehouse().open(owner=owner_of(context)) as warehouse:
        changed = warehouse.refresh_counts()
        metadata = counts_metadata(warehouse, changed)
        queued = queue_counts(
            context, warehouse, paths, dump=run_partition(context), job=context.job_name
        )
    context.log.info(f"{len(changed)} count(s) changed; {queued} count event(s) queued")
    metadata["count_events"] = queued
    return dg.MaterializeResult(metadata=metadata)


def queue_counts(
    context: dg.OpExecutionContext | dg.AssetExecutionContext,
    warehouse: WarehouseApi,
    paths: DataPaths,
    *,
    dump: str | None,
    job: str | None,
) -> int:
    """Every pending count change (this run's and any a failed run left) into the outbox;
    a refusing outbox fails the step with one line, and the changes stay pending."""
    try:
        return queue_count_events(
            warehouse, paths.data_dir, run_id=context.run_id, job=job, dump=dump
        )
    except CountEventsNotQueued as err:
        raise dg.Failure(description=str(err)) from err


def counts_metadata(warehouse: WarehouseApi, changed: Sequence[CountSnapshot]) -> dict[str, Any]:
    table = warehouse.counts()
    rows = table.to_pylist()
    top = sorted(rows, key=lambda r: r.get("message_count", 0), reverse=True)[:TOP_SENDERS]
    changed_rows = [
        {
            "chat_id": s.chat_id,
            "sender": s.sender_name or s.sender_key,
            "messages": s.message_count,
        }
        for s in changed[:TOP_SENDERS]
    ]
    return {
        Meta.ROW_COUNT: table.num_rows,
        "changed": len(changed),
        "total_messages_counted": sum(int(r.get("message_count") or 0) for r in rows),
        "dagster/column_schema": table_schema(warehouse.table_schema("user_message_counts")),
        "per_chat": per_chat_table(rows),
        "top_senders": top_senders_table(top),
        "changed_counts": record_table(changed_rows, ("chat_id", "sender", "messages")),
    }
