"""Run jobs in this process against the local Dagster instance (the CLI's default).

The CLI executes the very job definitions the sensor and ``dagster job execute`` use, so
there is one ingest path; running them in-process only skips the webserver. The instance
lives in ``DAGSTER_HOME`` when that is set, else in ``<data dir>/dagster_home`` (the place
``make dev`` uses), so the UI, the CLI and ``status`` all see the same runs; a new one gets
the local instance config of :mod:`tg_pipeline.deploy`. Settings arrive as a
:class:`~tg_pipeline.config.Settings`; nothing here reads or writes the environment.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import sys
import threading
import uuid
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tg_pipeline import liveness
from tg_pipeline.cli.runner import (
    LogSink,
    Materialization,
    RunInfo,
    RunOutcome,
    clean_error,
)
from tg_pipeline.config import Settings
from tg_pipeline.defs.names import (
    BACKUP_JOB,
    DEFINITIONS_MODULE,
    DELETE_JOB,
    INGEST_JOB,
    PARTITION_TAG,
    RAW_DUMP,
)
from tg_pipeline.deploy import ensure_local_instance
from tg_pipeline.errors import RunInterrupted

if TYPE_CHECKING:
    import dagster as dg


@contextlib.contextmanager
def _stop_requests() -> Iterator[threading.Event]:
    """Ctrl-C and SIGTERM (``kill``, a container stop) set the event that the run loop
    checks between polls. Raised as an exception, they would land anywhere in the main
    thread, inside the instance's own database calls too, whose clean-up prints a traceback
    of its own."""
    stop = threading.Event()

    def request(signum: int, frame: object) -> None:
        stop.set()

    try:
        previous = {sig: signal.signal(sig, request) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: leave signals alone
        yield stop
        return
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def instance_setup_lock(dagster_home: Path) -> Iterator[None]:
    """Held while an instance is opened: a brand-new ``DAGSTER_HOME`` gets its SQLite
    tables from whichever process opens it first, and two doing so at once collide
    ("table ... already exists")."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    fd = os.open(dagster_home / ".setup.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


#: The reader pool's resource tracker warns about "leaked semaphores" when the CLI ends
#: with a run canceled mid-read; nothing leaks (the workers end with the process).
_TRACKER_WARNING = "ignore::UserWarning:multiprocessing.resource_tracker"


def _quiet_resource_tracker() -> None:
    """Start helper processes with the tracker's warning filtered: multiprocessing passes
    ``sys.warnoptions`` to the interpreters it starts as ``-W`` options."""
    if _TRACKER_WARNING not in sys.warnoptions:
        sys.warnoptions.append(_TRACKER_WARNING)


def quiet_dagster() -> None:
    """Keep Dagster's warnings off the CLI's stderr; errors are reported as one line."""
    warnings.filterwarnings("ignore", module=r"dagster(\.|$)")
    warnings.filterwarnings("ignore", category=UserWarning, message=r".*dagster.*")
    try:
        from dagster import BetaWarning, PreviewWarning

        warnings.simplefilter("ignore", BetaWarning)
        warnings.simplefilter("ignore", PreviewWarning)
    except ImportError:
        pass


def _metadata_value(value: Any) -> Any:
    return getattr(value, "value", value)


class LocalRunner:
    """A :class:`~tg_pipeline.cli.runner.JobRunner` that executes jobs in this process."""

    def __init__(
        self,
        data_dir: Path,
        *,
        settings: Settings | None = None,
        definitions_module: str = DEFINITIONS_MODULE,
        poll_s: float = 0.2,
    ) -> None:
        self.data_dir = data_dir
        #: The runs' settings: the given ones (default: built-in) under this data directory.
        self.settings = (settings or Settings()).with_data_dir(data_dir)
        self.dagster_home = self.settings.instance_home(data_dir).resolve()
        self.where = f"local instance {self.dagster_home}"
        self._definitions_module = definitions_module
        self._poll_s = poll_s
        self._instance: dg.DagsterInstance | None = None
        self._defs: dg.Definitions | None = None

    @property
    def instance(self) -> dg.DagsterInstance:
        if self._instance is None:
            quiet_dagster()
            import dagster as dg

            ensure_local_instance(self.dagster_home)
            with instance_setup_lock(self.dagster_home):
                # What DagsterInstance.get() does, with the home given instead of read from
                # DAGSTER_HOME.
                self._instance = dg.DagsterInstance.from_config(str(self.dagster_home))
        return self._instance

    @property
    def defs(self) -> dg.Definitions:
        if self._defs is None:
            import importlib

            quiet_dagster()
            module = importlib.import_module(self._definitions_module)
            make = getattr(module, "make_definitions", None)
            # The runs' resources get the CLI's data directory and settings.
            self._defs = make(settings=self.settings) if make is not None else module.defs
        return self._defs

    def close(self) -> None:
        if self._instance is not None:
            self._instance.dispose()
            self._instance = None

    def add_partition(self, partitions_def: str, key: str) -> None:
        if not self.instance.has_dynamic_partition(partitions_def, key):
            self.instance.add_dynamic_partitions(partitions_def, [key])

    def run(
        self,
        job_name: str,
        *,
        run_config: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        partition: str | None = None,
        asset_selection: Sequence[str] | None = None,
        on_log: LogSink | None = None,
    ) -> RunOutcome:
        import dagster as dg

        job = self.defs.resolve_job_def(job_name)
        selection = [dg.AssetKey.from_user_string(k) for k in asset_selection or ()] or None
        instance = self.instance
        run_id = str(uuid.uuid4())
        config = dict(run_config or {})
        # The console logger would print every Dagster event on stderr; the CLI reports
        # progress and the outcome itself, and the full log stays in the instance.
        config.setdefault("loggers", {"console": {"config": {"log_level": "CRITICAL"}}})
        box: dict[str, Any] = {}

        def execute() -> None:
            # Ctrl-C is for the main thread, which cancels the run. Blocked here, it stays
            # blocked in the processes the run starts (Dagster's log watchers, reader
            # workers), which a terminal's Ctrl-C also reaches and which would each print a
            # traceback. SIGTERM stays open: it is how those helpers are stopped.
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:
                box["result"] = job.execute_in_process(
                    run_config=config,
                    instance=instance,
                    partition_key=partition,
                    tags=dict(tags or {}),
                    run_id=run_id,
                    asset_selection=selection,
                    raise_on_error=False,
                )
            except BaseException as exc:
                box["error"] = exc

        worker = threading.Thread(target=execute, name=f"run-{run_id[:8]}", daemon=True)
        cursor: str | None = None
        _quiet_resource_tracker()
        # The marker tells a later sweep that this run died with this process, even if it is
        # killed before the run reaches its first step.
        with liveness.run_alive(self.data_dir, run_id):
            with _stop_requests() as stop:
                worker.start()
                while not stop.is_set():
                    worker.join(self._poll_s)
                    if stop.is_set():
                        break
                    if on_log is not None:
                        cursor = self._forward_logs(run_id, cursor, on_log)
                    if not worker.is_alive():
                        break
            if stop.is_set():
                # Signals are back to their defaults here: a second Ctrl-C ends the wait.
                raise self._abandon(run_id, job_name, partition)
        self._file_under_job(run_id)
        if "error" in box:
            raise box["error"]
        return self._outcome(box["result"], job_name)

    def _file_under_job(self, run_id: str) -> None:
        """Give the run the code location `make dev` serves, so the UI lists it under its
        job; best effort, a run that cannot be stamped is still a run."""
        from tg_pipeline.defs.shared.ui_origin import attach_ui_origin

        with contextlib.suppress(Exception):
            attach_ui_origin(self.instance, run_id, self._definitions_module)

    def _abandon(self, run_id: str, job_name: str, partition: str | None) -> RunInterrupted:
        """Ctrl-C or SIGTERM: the process ends with the run unfinished. Its open warehouse
        transaction dies with the process; the run is marked canceled (so the UI and
        ``status`` do not show it running) and its pool slots are given back."""
        import dagster as dg

        instance = self.instance
        stored: list[str] = []
        try:
            run = instance.get_run_by_id(run_id)
            if run is not None and not run.is_finished:
                instance.report_run_canceled(run, message="interrupted (Ctrl-C or SIGTERM)")
                self._audit_canceled(run_id)
            if instance.event_log_storage.supports_global_concurrency_limits:
                instance.event_log_storage.free_concurrency_slots_for_run(run_id)
            stored = sorted(
                {
                    record.event_log_entry.dagster_event.asset_key.to_user_string()
                    for record in instance.get_records_for_run(
                        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
                    ).records
                    if record.event_log_entry.dagster_event is not None
                    and record.event_log_entry.dagster_event.asset_key is not None
                }
            )
        except Exception:  # a second Ctrl-C, a locked instance: the next sweep ends the run
            pass
        what = {INGEST_JOB: "ingest", BACKUP_JOB: "backup", DELETE_JOB: "delete"}.get(
            job_name, job_name
        )
        if partition:
            what += f" of dump {partition}"
        done = (
            "nothing was stored"
            if not stored or stored == [RAW_DUMP]
            else f"already stored: {', '.join(stored)}; the rest was not"
        )
        return RunInterrupted(f"interrupted: {what} canceled (run {run_id}); {done}")

    def _audit_canceled(self, run_id: str) -> None:
        """No daemon reports a run of this process: write its run_canceled event here."""
        from tg_pipeline.defs.names import UNAUDITED_JOBS
        from tg_pipeline.defs.shared import run_audit
        from tg_pipeline.events import emit

        run = self.instance.get_run_by_id(run_id)
        if run is None or run.job_name in UNAUDITED_JOBS:
            return
        with contextlib.suppress(Exception):  # Ctrl-C must end the command regardless
            emit(self.data_dir, [run_audit.run_canceled(self.instance, run)])

    def _forward_logs(self, run_id: str, cursor: str | None, on_log: LogSink) -> str | None:
        while True:
            connection = self.instance.get_records_for_run(run_id, cursor=cursor, limit=500)
            for record in connection.records:
                entry = record.event_log_entry
                if entry.dagster_event is None and entry.user_message:
                    on_log(entry.user_message)
            cursor = connection.cursor
            if not connection.has_more:
                return cursor

    @staticmethod
    def _outcome(result: Any, job_name: str) -> RunOutcome:
        materializations = [
            Materialization(
                asset_key="/".join(event.asset_key.path),
                partition=event.partition,
                metadata={
                    k: _metadata_value(v)
                    for k, v in event.step_materialization_data.materialization.metadata.items()
                },
            )
            for event in result.get_asset_materialization_events()
        ]
        outputs: dict[str, dict[str, Any]] = {}
        for event in result.all_events:
            if event.is_successful_output and event.step_key is not None:
                outputs.setdefault(event.step_key, {}).update(
                    {k: _metadata_value(v) for k, v in event.step_output_data.metadata.items()}
                )
        error = None
        failure_metadata: dict[str, Any] = {}
        for event in result.get_step_failure_events():
            data = event.step_failure_data
            if data.user_failure_data is not None:
                failure_metadata = {
                    k: _metadata_value(v) for k, v in data.user_failure_data.metadata.items()
                }
            info = data.error
            if info is not None:
                chain = info
                while chain.cause is not None and "dagster" in (chain.cls_name or "").lower():
                    chain = chain.cause
                error = clean_error(chain.message)
            break
        if error is None and not result.success:
            failure = result.get_run_failure_event()
            if failure is not None:
                error = clean_error(failure.message or "run failed")
        return RunOutcome(
            run_id=result.run_id,
            job_name=job_name,
            status=result.dagster_run.status.value,
            materializations=materializations,
            outputs=outputs,
            error=error,
            failure_metadata=failure_metadata,
        )

    def _runs(self, limit: int | None, statuses: list[str] | None) -> list[RunInfo]:
        if not self.dagster_home.exists():
            return []  # nothing has run here yet; do not create an instance just to look
        import dagster as dg

        filters = None
        if statuses:
            filters = dg.RunsFilter(statuses=[dg.DagsterRunStatus(s) for s in statuses])
        records = self.instance.get_run_records(filters=filters, limit=limit)
        return [
            RunInfo(
                run_id=r.dagster_run.run_id,
                job_name=r.dagster_run.job_name,
                status=r.dagster_run.status.value,
                partition=r.dagster_run.tags.get(PARTITION_TAG),
                start_time=r.start_time,
                end_time=r.end_time,
            )
            for r in records
        ]

    def sweep_dead_runs(self) -> list[str]:
        """Mark the runs whose process died as failed and give back their slots."""
        if not self.dagster_home.exists():
            return []
        from tg_pipeline.defs.shared.dead_runs import sweep_dead_runs

        return sweep_dead_runs(self.instance, self.data_dir)

    def recent_runs(self, limit: int) -> list[RunInfo]:
        return self._runs(limit, None)

    def active_runs(self) -> list[RunInfo]:
        return self._runs(None, ["QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"])
