"""Names of Dagster things that code outside the definitions refers to by string.

The CLI, the demo, the sensors and the tests start jobs, tag runs, build run config and read
materialization metadata by these names; the definitions declare themselves with them. It imports
neither Dagster nor the rest of the project, so the CLI can use it at no cost.
"""

from __future__ import annotations

from typing import Any

#: The module ``make dev``, ``workspace.yaml`` and the code server load; it names the code
#: location, whose one repository Dagster calls ``__repository__``.
DEFINITIONS_MODULE = "tg_pipeline.definitions"
REPOSITORY_NAME = "__repository__"

# Jobs.
INGEST_JOB = "ingest_job"
INGEST_INBOX_JOB = "ingest_inbox_job"
BACKUP_JOB = "backup_job"
REPORT_JOB = "report_job"
DELETE_JOB = "delete_job"
AUDIT_JOB = "audit_job"
#: Jobs whose runs are not audited: auditing ``audit_job`` would create consumer lag, which
#: starts ``audit_job`` again, forever.
UNAUDITED_JOBS = frozenset({AUDIT_JOB})

# Sensors.
INBOX_SENSOR = "inbox_sensor"

# Assets (each one's key is its name).
RAW_DUMP = "raw_dump"
MESSAGES = "messages"
USER_MESSAGE_COUNTS = "user_message_counts"
CHAT_REPORT = "chat_report"
MESSAGES_BACKUP_PARQUET = "messages_backup_parquet"
MESSAGES_BACKUP_CSV = "messages_backup_csv"
QUARANTINE = "quarantine"
AUDIT_LOG = "audit_log"
#: The backup asset of each format.
BACKUP_ASSETS = {"parquet": MESSAGES_BACKUP_PARQUET, "csv": MESSAGES_BACKUP_CSV}

# Ops that take run config of their own (assets' ops are named after the asset).
DELETE_MESSAGES_OP = "delete_messages"

# Asset groups.
TELEGRAM_GROUP = "telegram"
QUARANTINE_GROUP = "quarantine"
AUDIT_GROUP = "audit"

#: The dynamic partitions definition: one partition per dump.
DUMPS = "dumps"
#: Every step that opens the DuckDB file takes a slot of this pool; its limit is 1
#: (dagster.yaml), so writers in different runs take turns instead of failing on the lock.
#: On a PostgreSQL warehouse its limit is raised past any run count (``shared/pool.py``).
WAREHOUSE_POOL = "warehouse"
OWNERS = ["team:data-platform"]

# Run tags.
#: Dagster's own tag holding a partitioned run's partition key.
PARTITION_TAG = "dagster/partition"
#: The dump an ingest run of the inbox sensor is about, and the inbox entry's name.
DUMP_TAG = "tg_pipeline/dump"
SOURCE_TAG = "tg_pipeline/source"
#: Who started a run ("cli" for the command line).
TRIGGER_TAG = "tg_pipeline/trigger"
#: How many events still waited for Kafka when the run ended.
EVENTS_WAITING_TAG = "tg_pipeline/events_waiting"
#: The audit consumer group's lag when the sensor asked for an ``audit_job`` run.
AUDIT_LAG_TAG = "tg/audit_lag"


class Meta:
    """Materialization metadata keys read back by the CLI, the demo or the checks."""

    # messages
    NEW = "new"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    DUPLICATES = "duplicates"
    DUPLICATES_NOTE = "duplicates_note"
    ROWS_IN_DUMP = "rows_in_dump"
    # backups (and the file of any asset that writes one)
    PATH = "path"
    # quarantine
    REASON = "reason"
    ERROR_POSITION = "error_position"
    # Dagster's standard row count
    ROW_COUNT = "dagster/row_count"


def ingest_run_config(source: str, chat_id: int | None = None) -> dict[str, Any]:
    """Run config of ``ingest_job`` for the dump at ``source`` (``chat_id`` for HTML dumps,
    which carry none)."""
    ops: dict[str, Any] = {RAW_DUMP: {"config": {"source": source}}}
    if chat_id is not None:
        ops[MESSAGES] = {"config": {"chat_id": chat_id}}
    return {"ops": ops}


def delete_run_config(config: dict[str, Any]) -> dict[str, Any]:
    """Run config of ``delete_job``: the fields of its ``DeleteConfig``."""
    return {"ops": {DELETE_MESSAGES_OP: {"config": config}}}
