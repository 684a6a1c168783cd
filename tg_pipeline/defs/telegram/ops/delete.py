"""Deleting messages: an administrative write that is not an asset materialization.

A delete is a write like an ingest: it takes the warehouse pool slot, so it waits for a
running ingest instead of failing on the DuckDB lock, and it is a run in the instance, so the
UI and ``tg-pipeline status`` show who deleted what and when. The filter travels in the run
config; the audit event ``messages_deleted`` goes to the outbox like every other event.
"""

# No ``from __future__ import annotations`` here: ``@dg.op`` reads the config parameter's
# annotation as is, and a string would not resolve to the Config class.
from datetime import datetime
from typing import Any

import dagster as dg
from pydantic import Field

from tg_pipeline.defs.names import DELETE_MESSAGES_OP, WAREHOUSE_POOL
from tg_pipeline.defs.shared.guard import GuardParam
from tg_pipeline.defs.shared.settings import PipelineSettings
from tg_pipeline.defs.telegram.assets.counts import queue_counts
from tg_pipeline.events import emit, make_audit_event
from tg_pipeline.warehouse import MessageFilter


class DeleteConfig(dg.Config):
    """Which messages to delete; the fields mean what the ``messages`` command's options do."""

    chat: str | None = Field(default=None, description="Chat id or exact chat name.")
    sender: str | None = Field(default=None, description="Sender id or exact sender name.")
    since: str | None = Field(default=None, description="ISO-8601 instant; sent at or after.")
    until: str | None = Field(default=None, description="ISO-8601 instant; sent at or before.")
    text: str | None = Field(default=None, description="Case-insensitive substring (or regex).")
    regex: bool = Field(default=False, description="Treat `text` as a regular expression.")
    kind: str | None = Field(default=None, description="'message' or 'service'.")
    delete_all: bool = Field(
        default=False,
        description="Must be true to delete with no filter at all: an empty filter never "
        "means 'everything' by accident.",
    )

    def message_filter(self) -> MessageFilter:
        return MessageFilter(
            chat=self.chat,
            sender=self.sender,
            since=_instant(self.since),
            until=_instant(self.until),
            text=self.text,
            regex=self.regex,
            kind=self.kind,
        )

    def described(self) -> dict[str, Any]:
        """The filter as the audit event records it: only the fields that were given."""
        given = self.model_dump(exclude_defaults=True)
        given.pop("delete_all", None)
        return given


def _instant(text: str | None) -> datetime | None:
    if text is None:
        return None
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise dg.Failure(description=f"instant {text!r} has no zone; give an offset such as Z")
    return moment


@dg.op(
    name=DELETE_MESSAGES_OP,
    pool=WAREHOUSE_POOL,
    out=dg.Out(dg.Nothing),
    description=(
        "Deletes the messages matching the filter in one transaction, recomputes the per-user "
        "counts, and queues a `messages_deleted` audit event and a count event per changed "
        "count. Refuses an empty filter unless `delete_all` is set."
    ),
)
def delete_messages(
    context: dg.OpExecutionContext,
    config: DeleteConfig,
    settings: PipelineSettings,
    warehouse_guard: GuardParam,
) -> dg.Output[None]:
    message_filter = config.message_filter()
    if message_filter.is_empty() and not config.delete_all:
        raise dg.Failure(
            description="refusing to delete every message: give a filter or set delete_all"
        )
    if not message_filter.is_empty() and config.delete_all:
        raise dg.Failure(description="delete_all deletes everything; it takes no filter")
    paths = settings.paths().ensure()
    owner = f"dagster run {context.run_id} ({context.job_name})"
    with settings.warehouse().open(owner=owner) as warehouse:
        if config.delete_all:
            deletion = warehouse.delete_all()
        else:
            deletion = warehouse.delete_messages(message_filter)
        deleted, changed = deletion.deleted, deletion.count_changes
        remaining = warehouse.row_counts().get("messages", 0)
        count_events = queue_counts(context, warehouse, paths, dump=None, job=context.job_name)
    described = config.described()
    event = make_audit_event(
        "messages_deleted",
        run_id=context.run_id,
        job=context.job_name,
        deleted=deleted,
        filter=described,
        delete_all=config.delete_all,
    )
    emit(paths.data_dir, [event])
    context.log.info(
        f"deleted {deleted} message(s) matching {described or 'everything'}; "
        f"{remaining} remain; {len(changed)} count(s) changed; audit event "
        f"{event['event_id']} and {count_events} count event(s) queued"
    )
    return dg.Output(
        None,
        metadata={
            "deleted": deleted,
            "remaining": remaining,
            "counts_changed": len(changed),
            "filter": dg.MetadataValue.json(described),
            "audit_event_id": event["event_id"],
        },
    )
