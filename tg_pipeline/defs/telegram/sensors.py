"""The drop-folder sensor: a dump that has stopped changing becomes a partition and a run.

State lives in the sensor cursor (:mod:`.inbox_cursor`): for each inbox entry its size,
newest mtime and file count as last seen, and its fingerprint once computed. An entry is
taken only when that signature is the same on two ticks in a row and its newest file is
``settle_seconds`` old, so a dump still being copied is left alone. A fingerprint is
computed once per signature, never again for an unchanged entry. The sensor never opens the
warehouse (a writer may hold it); what it decides goes to the audit outbox instead.

An entry still in the inbox after its run failed was not a bad dump (that would have been
quarantined): the run failed for a reason outside it, so the sensor asks for it again a
few times (see :data:`MAX_RUN_ATTEMPTS`).
"""

import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import dagster as dg

from tg_pipeline.defs.names import DUMP_TAG, DUMPS, INBOX_SENSOR, SOURCE_TAG, ingest_run_config
from tg_pipeline.defs.shared.dead_runs import sweep_dead_runs
from tg_pipeline.defs.shared.settings import PipelineSettings
from tg_pipeline.defs.telegram.assets.quarantine import quarantine_event
from tg_pipeline.defs.telegram.inbox_cursor import InboxEntry, dump_cursor, load_cursor
from tg_pipeline.defs.telegram.jobs import ingest_job
from tg_pipeline.errors import DumpError
from tg_pipeline.events import emit, make_audit_event
from tg_pipeline.ingest import (
    FINGERPRINT_PREFIX,
    DataPaths,
    RunContext,
    dump_id_for,
    fingerprint_prefix,
    is_candidate_name,
    mark_processed,
    quarantine,
)
from tg_pipeline.readers import fingerprint_dump

SENSOR_NAME = INBOX_SENSOR
INTERVAL_SECONDS = 5
#: New dumps fingerprinted per tick; the rest wait for the next tick, so one tick stays far
#: below the 60 s a sensor may take even when hundreds of dumps are dropped at once.
MAX_NEW_DUMPS_PER_TICK = 25

#: A run that fails for a reason other than its dump (a full disk, a killed process, the
#: warehouse held by another writer past the wait) leaves the entry in the inbox; a bad dump
#: would have gone to ``quarantine/``. Such an entry gets this many runs in all, each retry
#: :data:`RETRY_AFTER_SECONDS` times the failures so far after the last one ended.
MAX_RUN_ATTEMPTS = 3
RETRY_AFTER_SECONDS = 60


def signature(entry: os.DirEntry[str]) -> tuple[int, int, int]:
    """(total size, newest mtime_ns, file count): one stat per file, none per name lookup.

    A folder's own mtime counts too, so a file appearing inside it changes the signature
    even before it has any bytes.
    """
    st = entry.stat()
    if not entry.is_dir():
        return st.st_size, st.st_mtime_ns, 1
    size, newest, count = 0, st.st_mtime_ns, 0
    stack = [entry.path]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for child in it:
                    try:
                        is_dir = child.is_dir(follow_symlinks=False)
                        child_st = child.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    newest = max(newest, child_st.st_mtime_ns)
                    if is_dir:
                        stack.append(child.path)
                    else:
                        size += child_st.st_size
                        count += 1
        except FileNotFoundError:
            continue
    return size, newest, count


@dataclass
class TickPlan:
    """What one tick decided; kept apart from Dagster types so it can be reasoned about."""

    entries: dict[str, InboxEntry]
    requests: list[tuple[str, str, Path]]  # (dump_id, fingerprint, entry)
    events: list[dict[str, Any]]
    log: list[str]
    #: Entries that are no dump at all, moved to quarantine this tick, with the reason.
    quarantined: list[tuple[Path, DumpError]] = field(default_factory=list)

    @property
    def settling(self) -> int:
        return sum(1 for e in self.entries.values() if not e.requested)


def plan_tick(
    paths: DataPaths,
    previous: dict[str, InboxEntry],
    *,
    known_dumps: Callable[[], Iterable[str]],
    settle_seconds: float,
    now_ns: int | None = None,
    max_new: int = MAX_NEW_DUMPS_PER_TICK,
) -> TickPlan:
    """Compare the inbox with the cursor and decide which dumps are ready, new or bad.

    ``known_dumps`` (the registered dump ids) is called only when some entry is ready, since
    listing partitions is one of the two instance queries a tick may make (the other, in
    the sensor, asks how the runs of entries still waiting in the inbox ended).
    """
    now_ns = time.time_ns() if now_ns is None else now_ns
    settle_ns = int(settle_seconds * 1e9)
    entries: dict[str, InboxEntry] = {}
    ready: list[str] = []
    try:
        scan = os.scandir(paths.inbox)
    except FileNotFoundError:
        return TickPlan(entries={}, requests=[], events=[], log=[])
    with scan:
        for item in scan:
            name = item.name
            if not is_candidate_name(name):
                continue
            try:
                size, mtime_ns, files = signature(item)
            except FileNotFoundError:
                continue
            prev = previous.get(name)
            if prev is not None and prev.same_signature(size, mtime_ns, files):
                entries[name] = prev
                if not prev.requested and now_ns - mtime_ns >= settle_ns:
                    ready.append(name)
            else:
                entries[name] = InboxEntry(size, mtime_ns, files)

    plan = TickPlan(entries=entries, requests=[], events=[], log=[])
    if not ready:
        return plan
    known = {fingerprint_prefix(dump_id): dump_id for dump_id in known_dumps()}
    for name, e in entries.items():
        if e.fingerprint is not None:
            known.setdefault(e.fingerprint[:FINGERPRINT_PREFIX], dump_id_for(name, e.fingerprint))
    run = RunContext(emit=plan.events.extend)
    for name in sorted(ready)[:max_new]:
        entry = paths.inbox / name
        try:
            fingerprint = fingerprint_dump(entry)
        except DumpError as err:
            quarantine(entry, err, paths, run=run, stage="detect")
            del entries[name]
            plan.log.append(f"{name}: quarantined: {err}")
            plan.quarantined.append((entry, err))
            continue
        dump_id = dump_id_for(name, fingerprint)
        prefix = fingerprint_prefix(dump_id)
        original = known.get(prefix)
        if original is not None:
            moved = mark_processed(entry, paths, dump_id)
            del entries[name]
            plan.events.append(
                make_audit_event(
                    "dump_duplicate",
                    dump=dump_id,
                    duplicate_of=original,
                    path=str(entry),
                    moved_to=str(moved) if moved else None,
                    sensor=SENSOR_NAME,
                )
            )
            plan.log.append(f"{name}: same content as dump {original}; no run")
            continue
        known[prefix] = dump_id
        seen = entries[name]
        entries[name] = replace(seen, fingerprint=fingerprint)
        plan.requests.append((dump_id, fingerprint, entry))
        plan.events.append(
            make_audit_event(
                "dump_detected",
                dump=dump_id,
                path=str(entry),
                fingerprint=fingerprint,
                files=seen.files,
                bytes=seen.size,
                sensor=SENSOR_NAME,
            )
        )
        plan.log.append(f"{name}: new dump {dump_id}; requesting a run")
    return plan


@dataclass(frozen=True)
class PastRun:
    """An ingest run of one dump, as the instance reports it."""

    dump_id: str
    state: str  # "pending", "succeeded", "failed" or "canceled"
    ended_at: float | None
    #: For a failed run: the error when it was the machine's fault (a full disk, memory),
    #: which another run would only repeat.
    resource_error: str | None = None


@dataclass(frozen=True)
class Retry:
    dump_id: str
    fingerprint: str
    entry: Path
    attempt: int

    @property
    def run_key(self) -> str:
        return f"{self.fingerprint}:attempt-{self.attempt}"


def plan_retries(
    paths: DataPaths,
    entries: dict[str, InboxEntry],
    runs: Iterable[PastRun],
    *,
    now: float,
    max_attempts: int = MAX_RUN_ATTEMPTS,
    retry_after: float = RETRY_AFTER_SECONDS,
) -> tuple[list[Retry], list[str]]:
    """The entries whose runs all failed and which are still in the inbox: each gets
    another run once its wait is over, until ``max_attempts`` runs have failed.

    A run still queued or going, one that succeeded, or one an operator canceled means
    nothing is to be done; so does an entry whose run the daemon has not created yet (no
    run at all).
    """
    by_dump: dict[str, list[PastRun]] = {}
    for run in runs:
        by_dump.setdefault(run.dump_id, []).append(run)
    retries: list[Retry] = []
    log: list[str] = []
    for name, entry in entries.items():
        if entry.fingerprint is None:
            continue
        dump_id = dump_id_for(name, entry.fingerprint)
        past = by_dump.get(dump_id, [])
        if not past or any(run.state != "failed" for run in past):
            continue
        failed = len(past)
        latest = max(past, key=lambda run: run.ended_at or 0.0)
        last = latest.ended_at or 0.0
        if latest.resource_error is not None:
            if now - last < retry_after:
                log.append(
                    f"{name}: run {failed} of dump {dump_id} failed: {latest.resource_error}; "
                    "not run again: free disk space or memory, then re-execute its last run"
                )
            continue
        if failed >= max_attempts:
            if now - last < retry_after:
                # Said in the minute after the last run failed, not on every tick forever.
                log.append(
                    f"{name}: {failed} runs of dump {dump_id} failed; no more retries: "
                    "fix the cause, then re-execute its last run"
                )
            continue
        if now - last < retry_after * failed:
            continue
        retries.append(Retry(dump_id, entry.fingerprint, paths.inbox / name, failed + 1))
        log.append(f"{name}: run {failed} of dump {dump_id} failed; requesting run {failed + 1}")
    return retries, log


_RUN_STATES = {
    dg.DagsterRunStatus.SUCCESS: "succeeded",
    dg.DagsterRunStatus.FAILURE: "failed",
    dg.DagsterRunStatus.CANCELED: "canceled",
}


def past_runs(instance: dg.DagsterInstance, dump_ids: list[str]) -> list[PastRun]:
    """The ingest runs of ``dump_ids``: one query, made only while some entry waits (and
    one more per failed run, for its error)."""
    if not dump_ids:
        return []
    records = instance.get_run_records(
        filters=dg.RunsFilter(job_name=ingest_job.name, tags={DUMP_TAG: dump_ids})
    )
    return [
        PastRun(
            record.dagster_run.tags.get(DUMP_TAG, ""),
            _RUN_STATES.get(record.dagster_run.status, "pending"),
            record.end_time,
            _resource_error(instance, record.dagster_run)
            if record.dagster_run.status == dg.DagsterRunStatus.FAILURE
            else None,
        )
        for record in records
    ]


#: Failures of the machine, not of the dump or the code: DuckDB's and SQLite's words for a
#: full disk, and for memory that ran out.
_RESOURCE_ERRORS = re.compile(
    r"no space left on device|disk is full|disk quota|out of memory|memory limit|"
    r"could not allocate|failed to pin block",
    re.IGNORECASE,
)


def _resource_error(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str | None:
    records = instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE, limit=1
    ).records
    for record in records:
        event = record.event_log_entry.dagster_event
        data = event.step_failure_data if event is not None else None
        error = data.error if data is not None else None
        while error is not None:
            first = (error.message or "").strip().splitlines()
            if first and _RESOURCE_ERRORS.search(first[0]):
                return first[0]
            error = error.cause
    return None


def run_request_for(
    dump_id: str, fingerprint: str, entry: Path, *, run_key: str | None = None
) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=run_key or fingerprint,
        partition_key=dump_id,
        run_config=ingest_run_config(str(entry)),
        tags={DUMP_TAG: dump_id, SOURCE_TAG: entry.name},
    )


@dg.sensor(
    name=SENSOR_NAME,
    job=ingest_job,
    minimum_interval_seconds=INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Watches the inbox (`data/inbox/` by default). Once a dropped export, `.zip` or "
        "backup has stopped changing, it names it by content fingerprint, adds a `dumps` "
        "partition and starts one ingest run (run key = fingerprint). Content dropped "
        "again starts no run and moves to `data/processed/`; an entry that is no dump "
        "at all goes to `data/quarantine/` with an error report. An entry whose run "
        f"failed for another reason stays in the inbox and is run again, up to "
        f"{MAX_RUN_ATTEMPTS} runs in all."
    ),
)
def inbox_sensor(
    context: dg.SensorEvaluationContext, settings: PipelineSettings
) -> dg.SensorResult:
    paths = settings.paths()
    paths.inbox.mkdir(parents=True, exist_ok=True)
    # A run killed with its process stays STARTED and keeps its place in the run queue;
    # ending it here frees the queue without waiting for some new write to notice.
    sweep_dead_runs(context.instance, paths.data_dir, log=context.log.warning, free_finished=False)

    plan = plan_tick(
        paths,
        load_cursor(context.cursor),
        known_dumps=lambda: context.instance.get_dynamic_partitions(DUMPS),
        settle_seconds=settings.settle_seconds,
    )
    new = {request[0] for request in plan.requests}
    requested = (
        dump_id_for(name, e.fingerprint)
        for name, e in plan.entries.items()
        if e.fingerprint is not None
    )
    waiting = [dump_id for dump_id in requested if dump_id not in new]
    retries, retry_log = plan_retries(
        paths,
        plan.entries,
        past_runs(context.instance, waiting),
        now=time.time(),
        max_attempts=MAX_RUN_ATTEMPTS,
        retry_after=RETRY_AFTER_SECONDS,
    )
    for line in [*plan.log, *retry_log]:
        context.log.info(line)
    if plan.events:
        emit(paths.data_dir, plan.events)
    cursor = dump_cursor(plan.entries)
    # Shown on the quarantine asset, not only in this tick's log.
    asset_events = [
        quarantine_event(None, entry, err, stage="detect", quarantine_dir=paths.quarantine)
        for entry, err in plan.quarantined
    ]
    requests = [run_request_for(*request) for request in plan.requests] + [
        run_request_for(r.dump_id, r.fingerprint, r.entry, run_key=r.run_key) for r in retries
    ]
    if not requests:
        if asset_events:
            return dg.SensorResult(asset_events=asset_events, cursor=cursor)
        return dg.SensorResult(skip_reason=_skip_reason(plan), cursor=cursor)
    return dg.SensorResult(
        asset_events=asset_events or None,
        run_requests=requests,
        dynamic_partitions_requests=[dumps_add_request(sorted(new))] if new else None,
        cursor=cursor,
    )


def _skip_reason(plan: TickPlan) -> str:
    if not plan.entries:
        return "inbox is empty"
    if plan.settling:
        return f"{plan.settling} inbox entr(ies) still being written or settling"
    return "every inbox entry already has a run"


def dumps_add_request(keys: list[str]) -> dg.AddDynamicPartitionsRequest:
    return dg.AddDynamicPartitionsRequest(partitions_def_name=DUMPS, partition_keys=keys)
