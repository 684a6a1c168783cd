"""The chat report: a self-contained HTML directory of charts, built from the warehouse.

Aggregations run in DuckDB (:mod:`tg_pipeline.warehouse.report_queries`); this package
picks each chat's zone, draws the charts to SVG and writes the pages. No Dagster here: the
``chat_report`` asset and ``tg-pipeline report`` both call :func:`build_report`.
"""

from tg_pipeline.report.build import (
    ChatPage,
    ReportPlan,
    ReportResult,
    ZoneLookup,
    build_report,
    plan_report,
    write_report,
)

__all__ = [
    "ChatPage",
    "ReportPlan",
    "ReportResult",
    "ZoneLookup",
    "build_report",
    "plan_report",
    "write_report",
]
