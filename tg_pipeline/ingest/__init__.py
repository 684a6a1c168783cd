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

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tg_pipeline.ingest.context import EventSink, RunContext, outbox_sink
    from tg_pipeline.ingest.flow import (
        InboxOutcome,
        ingest_paths,
        ingest_staged,
        stage_or_quarantine,
    )
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
    from tg_pipeline.ingest.progress import (
        PROGRESS_EVERY_S,
        reporting_progress,
        use_progress_interval,
    )
    from tg_pipeline.ingest.staging import (
        MANIFEST_NAME,
        MANIFEST_VERSION,
        DuplicateDump,
        StagedDump,
        StagedFile,
        load_staged,
        stage_dump,
    )

#: Each exported name and the submodule that defines it, loaded on first use: the layout
#: alone (:class:`DataPaths`) needs none of the readers or the warehouse.
_EXPORTS = {
    "DataPaths": "layout",
    "DumpNotFound": "inbox",
    "DuplicateDump": "staging",
    "EventSink": "context",
    "FINGERPRINT_PREFIX": "naming",
    "InboxOutcome": "flow",
    "MANIFEST_NAME": "staging",
    "MANIFEST_VERSION": "staging",
    "PROGRESS_EVERY_S": "progress",
    "Quarantined": "inbox",
    "RunContext": "context",
    "StagedDump": "staging",
    "StagedFile": "staging",
    "dump_id_for": "naming",
    "fingerprint_prefix": "naming",
    "inbox_entries": "inbox",
    "ingest_paths": "flow",
    "ingest_staged": "flow",
    "is_candidate_name": "inbox",
    "load_staged": "staging",
    "locate_dump": "inbox",
    "mark_processed": "inbox",
    "outbox_sink": "context",
    "quarantine": "inbox",
    "reporting_progress": "progress",
    "stage_dump": "staging",
    "stage_or_quarantine": "flow",
    "unique_destination": "naming",
    "use_progress_interval": "progress",
}

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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
