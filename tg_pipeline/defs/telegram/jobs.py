"""Jobs: what the sensor, the UI, the CLI and `dagster job execute` start.

Every job runs its steps in the run's own process: the steps are sequential anyway (each
waits for the warehouse pool), and a process per step would cost seconds per run.
"""

from __future__ import annotations

import dagster as dg

from tg_pipeline.defs.names import (
    BACKUP_JOB,
    DELETE_JOB,
    INGEST_INBOX_JOB,
    INGEST_JOB,
    REPORT_JOB,
)
from tg_pipeline.defs.shared.hooks import RUN_EVENT_HOOKS
from tg_pipeline.defs.telegram.assets.backups import (
    messages_backup_csv,
    messages_backup_parquet,
)
from tg_pipeline.defs.telegram.assets.counts import user_message_counts
from tg_pipeline.defs.telegram.assets.messages import messages
from tg_pipeline.defs.telegram.assets.raw_dump import raw_dump
from tg_pipeline.defs.telegram.assets.report import chat_report
from tg_pipeline.defs.telegram.ops.delete import delete_messages
from tg_pipeline.defs.telegram.ops.inbox import ingest_inbox

ingest_job = dg.define_asset_job(
    name=INGEST_JOB,
    hooks=RUN_EVENT_HOOKS,
    selection=dg.AssetSelection.assets(raw_dump, messages, user_message_counts, chat_report),
    executor_def=dg.in_process_executor,
    description=(
        "Ingests one dump partition: raw copy, upsert into `messages`, then the per-user "
        "counts, with their checks, and the chat report (only chats that changed are "
        "redrawn). The inbox sensor starts one run per dropped dump."
    ),
)

report_job = dg.define_asset_job(
    name=REPORT_JOB,
    hooks=RUN_EVENT_HOOKS,
    selection=dg.AssetSelection.assets(chat_report),
    executor_def=dg.in_process_executor,
    description="Rebuilds the HTML chat report under `<data dir>/report/` from the warehouse.",
)

backup_job = dg.define_asset_job(
    name=BACKUP_JOB,
    hooks=RUN_EVENT_HOOKS,
    selection=dg.AssetSelection.assets(messages_backup_parquet, messages_backup_csv),
    executor_def=dg.in_process_executor,
    description=(
        "Writes one Parquet and one CSV backup of `messages` (with manifests) and verifies "
        "each reads back equal to the table."
    ),
)


@dg.job(
    name=INGEST_INBOX_JOB,
    executor_def=dg.in_process_executor,
    hooks=RUN_EVENT_HOOKS,
    description=(
        "Ingests every dump waiting in the inbox in one run, registering their partitions "
        "itself: `dagster job execute -m tg_pipeline.definitions -j ingest_inbox_job` "
        "needs no sensor, daemon or partition key."
    ),
)
def ingest_inbox_job() -> None:
    ingest_inbox()


@dg.job(
    name=DELETE_JOB,
    executor_def=dg.in_process_executor,
    hooks=RUN_EVENT_HOOKS,
    description=(
        "Deletes messages by filter (chat, sender, time range, text, kind) in one "
        "transaction, recomputes the per-user counts and records a `messages_deleted` audit "
        "event. `tg-pipeline delete` shows the matching rows and asks before it runs this."
    ),
)
def delete_job() -> None:
    delete_messages()


JOBS: list[dg.JobDefinition | dg.UnresolvedAssetJobDefinition] = [
    ingest_job,
    backup_job,
    ingest_inbox_job,
    report_job,
    delete_job,
]
