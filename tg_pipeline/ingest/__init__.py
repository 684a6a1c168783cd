"""The one ingest path: inbox entry → raw copy → warehouse → processed (or quarantine).

It imports ``readers``, ``warehouse`` and ``events``, never Dagster: the orchestration
layer only decides *when* these run.

The assets, the inbox job, the CLI and the sensor's quarantine all go through these
functions, so a dump is treated the same way whichever door it came in by.

Steps, each usable on its own because the ``raw_dump`` and ``messages`` assets are two steps:

1. :func:`stage_dump` detects the dump and copies its text files (never media) into
   ``raw/<dump_id>/files/`` with a ``manifest.json`` (sizes, sha256, kind, fingerprint,
   source). The copy is immutable: it is what a later re-materialization reads.
2. :func:`ingest_staged` streams the copy into the warehouse in one transaction.
3. On success the inbox entry moves to ``processed/``; on a :class:`DumpError` it moves to
   ``quarantine/`` next to ``<name>.error.txt``, the warehouse records the failure, and the
   error is raised again so the caller (a run, a command) fails with that message.
"""

from __future__ import annotations

from tg_pipeline.ingest.context import EventSink, RunContext, outbox_sink
from tg_pipeline.ingest.flow import InboxOutcome, ingest_paths, ingest_staged, stage_or_quarantine
from tg_pipeline.ingest.inbox import (
    DumpNotFound,
    Quarantined,
    inbox_entries,
    is_candidate_name,
    locate_dump,
    mark_processed,
    quarantine,
)
from tg_pipeline.ingest.layout import DataPaths
from tg_pipeline.ingest.naming import (
    FINGERPRINT_PREFIX,
    dump_id_for,
    fingerprint_prefix,
    unique_destination,
)
from tg_pipeline.ingest.progress import PROGRESS_EVERY_S, reporting_progress, use_progress_interval
from tg_pipeline.ingest.staging import (
    MANIFEST_NAME,
    MANIFEST_VERSION,
    DuplicateDump,
    StagedDump,
    StagedFile,
    load_staged,
    stage_dump,
)

__all__ = [
    "FINGERPRINT_PREFIX",
    "MANIFEST_NAME",
    "MANIFEST_VERSION",
    "PROGRESS_EVERY_S",
    "DataPaths",
    "DumpNotFound",
    "DuplicateDump",
    "EventSink",
    "InboxOutcome",
    "Quarantined",
    "RunContext",
    "StagedDump",
    "StagedFile",
    "dump_id_for",
    "fingerprint_prefix",
    "inbox_entries",
    "ingest_paths",
    "ingest_staged",
    "is_candidate_name",
    "load_staged",
    "locate_dump",
    "mark_processed",
    "outbox_sink",
    "quarantine",
    "reporting_progress",
    "stage_dump",
    "stage_or_quarantine",
    "unique_destination",
    "use_progress_interval",
]
