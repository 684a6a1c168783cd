"""``user_message_counts``: messages per chat and sender, recomputed from the whole table."""

from collections.abc import Sequence

import dagster as dg

from tg_pipeline.assets.telegram.common import (
    GROUP,
    OWNERS,
    WAREHOUSE_POOL,
    owner_of,
    run_partition,
)
from tg_pipeline.assets.telegram.count_tables import per_chat_table, top_senders_table
from tg_pipeline.assets.telegram.messages import messages
from tg_pipeline.assets.telegram.metadata import record_table, table_schema
from tg_pipeline.events import emit, make_count_event
from tg_pipeline.ingest import DataPaths
from tg_pipeline.resources import PipelineSettings
from tg_pipeline.resources.guard import GuardParam
from tg_pipeline.warehouse import CountSnapshot, Warehouse

TOP_SENDERS = 10


@dg.asset(
    deps=[messages],
    group_name=GROUP,
    kinds={"duckdb"},
    owners=OWNERS,
    pool=WAREHOUSE_POOL,
    description=(
        "How many messages each sender wrote in each chat, with the first and last message "
        "time. Only real messages count, not service entries (joins, pins, calls). The "
        "table is recomputed from `messages` as a whole, whichever dump changed it, and "
        "every count that changed goes out as a count event (outbox, then Kafka)."
    ),
)
def user_message_counts(
    context: dg.AssetExecutionContext, settings: PipelineSettings, warehouse_guard: GuardParam
) -> dg.MaterializeResult:
    paths = settings.paths().ensure()
    with Warehouse.open(paths.warehouse, owner=owner_of(context)) as warehouse:
        changed = warehouse.refresh_counts()
        metadata = counts_metadata(warehouse, changed)
    published = publish_counts(
        paths, changed, run_id=context.run_id, job=context.job_name, dump=run_partition(context)
    )
    context.log.info(f"{len(changed)} count(s) changed; {published} count event(s) queued")
    metadata["count_events"] = published
    return dg.MaterializeResult(metadata=metadata)


def publish_counts(
    paths: DataPaths,
    changed: Sequence[CountSnapshot],
    *,
    run_id: str | None,
    job: str | None,
    dump: str | None,
) -> int:
    """One count event per changed row, into the durable outbox; returns how many."""
    events = [make_count_event(s, run_id=run_id, job=job, dump=dump) for s in changed]
    if events:
        emit(paths.data_dir, events)
    return len(events)


def counts_metadata(warehouse: Warehouse, changed: Sequence[CountSnapshot]) -> dict[str, object]:
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
        "dagster/row_count": table.num_rows,
        "changed": len(changed),
        "total_messages_counted": sum(int(r.get("message_count") or 0) for r in rows),
        "dagster/column_schema": table_schema(warehouse.table_schema("user_message_counts")),
        "per_chat": per_chat_table(rows),
        "top_senders": top_senders_table(top),
        "changed_counts": record_table(changed_rows, ("chat_id", "sender", "messages")),
    }
