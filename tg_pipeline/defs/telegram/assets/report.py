"""``chat_report``: the HTML chat report under ``<data dir>/report/``, and what the UI shows
of it: the index's path and a per-chat table."""

from pathlib import Path
from typing import Any

import dagster as dg

from tg_pipeline.defs.names import OWNERS, TELEGRAM_GROUP, WAREHOUSE_POOL
from tg_pipeline.defs.shared.context import owner_of
from tg_pipeline.defs.shared.guard import GuardParam
from tg_pipeline.defs.shared.settings import PipelineSettings
from tg_pipeline.defs.telegram.assets.counts import user_message_counts
from tg_pipeline.defs.telegram.assets.messages import messages
from tg_pipeline.ingest import DataPaths
from tg_pipeline.report import ReportPlan, ReportResult, ZoneLookup, plan_report, write_report
from tg_pipeline.warehouse import Warehouse
from tg_pipeline.warehouse.backend import WarehouseApi

#: Chats listed in the UI's table, busiest first; the report itself has them all.
TABLE_ROWS = 50

PER_CHAT_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("chat", "string"),
        dg.TableColumn("chat_id", "int"),
        dg.TableColumn("messages", "int"),
        dg.TableColumn("senders", "int"),
        dg.TableColumn("top_sender", "string", description="the most active, with its count"),
        dg.TableColumn("busiest_day", "string"),
        dg.TableColumn("time_zone", "string"),
    ]
)


def report_dir(paths: DataPaths) -> Path:
    return paths.data_dir / "report"


#: Why a PostgreSQL warehouse has no chat report yet (its queries are DuckDB's).
NOT_ON_POSTGRES = "the chat report reads the DuckDB warehouse; not drawn for PostgreSQL yet"


def plan(warehouse: Warehouse, paths: DataPaths, default_zone: str) -> ReportPlan:
    zones = ZoneLookup(warehouse.con, paths.raw, default_zone=default_zone)
    return plan_report(warehouse.con, report_dir(paths), zones)


def refresh_report(
    warehouse: WarehouseApi, paths: DataPaths, default_zone: str
) -> dict[str, Any] | None:
    """Bring the report up to date; the materialization metadata describing it (``None``
    on a PostgreSQL warehouse, which has no report yet)."""
    if not isinstance(warehouse, Warehouse):
        return None
    return report_metadata(write_report(plan(warehouse, paths, default_zone)))


def report_metadata(result: ReportResult) -> dict[str, Any]:
    records = [
        dg.TableRecord(
            {
                "chat": p.summary.name or f"chat {p.summary.chat_id}",
                "chat_id": p.summary.chat_id,
                "messages": p.summary.messages,
                "senders": p.summary.senders,
                "top_sender": f"{p.top_sender} ({p.top_sender_messages:,})"
                if p.top_sender
                else None,
                "busiest_day": p.busiest_day,
                "time_zone": p.zone.label,
            }
        )
        for p in result.pages[:TABLE_ROWS]
    ]
    return {
        "report": dg.MetadataValue.path(str(result.index)),
        "open_in_browser": dg.MetadataValue.url(result.index.as_uri()),
        "chats": len(result.pages),
        "messages": result.messages,
        "pages_drawn": result.drawn,
        "build_seconds": round(result.seconds, 2),
        "per_chat": dg.MetadataValue.table(records=records, schema=PER_CHAT_SCHEMA),
    }


@dg.asset(
    deps=[messages, user_message_counts],
    group_name=TELEGRAM_GROUP,
    kinds={"duckdb", "html"},
    owners=OWNERS,
    pool=WAREHOUSE_POOL,
    description=(
        "The chat report: `<data dir>/report/index.html` lists the chats, and each chat's "
        "page shows messages per sender, activity over time, an hour × weekday heatmap in "
        "the chat's time zone, and the shares of media, replies and forwards, with headline "
        "numbers. Self-contained HTML with inline SVG charts; opens from disk without a "
        "network. Only chats whose messages changed are redrawn."
    ),
)
def chat_report(
    context: dg.AssetExecutionContext, settings: PipelineSettings, warehouse_guard: GuardParam
) -> dg.MaterializeResult:
    paths = settings.paths().ensure()
    with settings.warehouse().open(owner=owner_of(context)) as warehouse:
        if not isinstance(warehouse, Warehouse):
            context.log.warning(NOT_ON_POSTGRES)
            return dg.MaterializeResult(metadata={"report": NOT_ON_POSTGRES, "pages_drawn": 0})
        planned = plan(warehouse, paths, settings.default_zone)
    metadata = report_metadata(write_report(planned))
    context.log.info(
        f"report at {metadata['report'].path}: {metadata['chats']} chat(s), "
        f"{metadata['pages_drawn']} page(s) drawn"
    )
    return dg.MaterializeResult(metadata=metadata)
