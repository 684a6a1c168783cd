"""The ``audit_log`` asset: the audit topic, consumed into the warehouse.

It replaces the old Audit service, which stored every service's logs the same way. The
``audit_log_sensor`` starts ``audit_job`` when the consumer group lags; the job can also be
started by hand. A broker that is not configured or not reachable does not fail the run: the
events stay on the topic or in the outbox, and the next run picks them up.
"""

import dagster as dg

from tg_pipeline.defs.names import AUDIT_GROUP, AUDIT_LOG, OWNERS, WAREHOUSE_POOL, Meta
from tg_pipeline.defs.shared.guard import GuardParam
from tg_pipeline.defs.shared.kafka import KafkaResource
from tg_pipeline.defs.shared.settings import PipelineSettings
from tg_pipeline.events.consumer import AUDIT_GROUP_ID, consume_audit_log
from tg_pipeline.events.errors import BrokerUnavailable


@dg.asset(
    name=AUDIT_LOG,
    group_name=AUDIT_GROUP,
    kinds={"duckdb", "kafka"},
    owners=OWNERS,
    pool=WAREHOUSE_POOL,
    description=(
        "Every audit event (run lifecycle, materializations with their headline numbers, "
        "warnings and errors, dump decisions, deletes, restores), read from the "
        "`<prefix>.audit` topic by the consumer group `tg_pipeline.audit_log` and stored "
        "once per event_id. Offsets are committed only after the rows are."
    ),
)
def audit_log(
    context: dg.AssetExecutionContext,
    settings: PipelineSettings,
    warehouse_guard: GuardParam,
    kafka: KafkaResource,
) -> dg.MaterializeResult:
    settings.paths().ensure()
    if not kafka.enabled:
        context.log.warning("no Kafka broker configured (TG_KAFKA_BOOTSTRAP); nothing consumed")
        with settings.warehouse().open() as warehouse:
            total = warehouse.row_counts().get("audit_log", 0)
        return dg.MaterializeResult(
            metadata={"new_rows": 0, "total": total, "lag": 0, "broker": "not configured"}
        )
    with settings.warehouse().open() as warehouse:
        try:
            result = consume_audit_log(kafka.settings(), warehouse, AUDIT_GROUP_ID)
        except BrokerUnavailable as exc:
            context.log.warning(str(exc))
            total = warehouse.row_counts().get("audit_log", 0)
            return dg.MaterializeResult(
                metadata={"new_rows": 0, "total": total, "broker": f"unavailable: {exc}"}
            )
        total = warehouse.row_counts().get("audit_log", 0)
    context.log.info(result.summary())
    for sample in result.invalid_samples:
        context.log.warning(f"skipped an invalid audit message: {sample}")
    return dg.MaterializeResult(
        metadata={
            "new_rows": result.new_rows,
            "consumed": result.consumed,
            "invalid": result.invalid,
            "total": total,
            Meta.ROW_COUNT: total,
            "lag": result.lag,
            "consumer_group": AUDIT_GROUP_ID,
            "topic": kafka.settings().audit_topic,
            "seconds": round(result.elapsed_s, 2),
        }
    )


AUDIT_ASSETS = [audit_log]
