"""``audit_job``: consumes the audit topic into ``audit_log``. It has no run hooks: its runs
are not audited (see :data:`tg_pipeline.defs.names.UNAUDITED_JOBS`)."""

from __future__ import annotations

import dagster as dg

from tg_pipeline.defs.events.assets import audit_log
from tg_pipeline.defs.names import AUDIT_JOB

audit_job = dg.define_asset_job(
    name=AUDIT_JOB,
    selection=dg.AssetSelection.assets(audit_log),
    executor_def=dg.in_process_executor,
    description="Consumes the audit topic into `audit_log`; the audit_log_sensor starts it "
    "when the consumer group lags.",
)

JOBS = [audit_job]
