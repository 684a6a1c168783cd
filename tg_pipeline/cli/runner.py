"""What the CLI needs from Dagster to write anything: register a partition, run a job, follow it.

Two implementations meet this protocol: :mod:`tg_pipeline.cli.local` runs the job in this
process against the local instance, :mod:`tg_pipeline.cli.remote` launches it on a
``dagster-webserver`` through GraphQL. Commands are written once against the protocol, so
``--url`` changes where a run happens, never what it does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from tg_pipeline.errors import out_of_memory_hint

#: Dagster prefixes an error with its exception's class path; a user needs the message only.
_CLASS_PREFIX = re.compile(r"^(?:(?:[a-z_][\w]*\.)+[A-Z]\w*|[A-Z]\w*(?:Error|Exception|Busy)): ")

#: Receives the text of each log message a run writes, as it is written.
LogSink = Callable[[str], None]

SUCCESS = "SUCCESS"
FAILURE = "FAILURE"
CANCELED = "CANCELED"
FINISHED_STATUSES = frozenset({SUCCESS, FAILURE, CANCELED})


def clean_error(message: str) -> str:
    """The first line of an error message, without Dagster's ``module.Class: `` prefix; for
    DuckDB running out of memory, the line that says which setting to raise."""
    hint = out_of_memory_hint(message)
    if hint is not None:
        return hint
    lines = [line for line in message.strip().splitlines() if line.strip()]
    first = lines[0] if lines else message
    return _CLASS_PREFIX.sub("", first.strip())


@dataclass(frozen=True)
class Materialization:
    asset_key: str
    partition: str | None
    metadata: dict[str, Any]


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    job_name: str
    status: str
    materializations: list[Materialization] = field(default_factory=list)
    #: Metadata of each op output, by step key (ops that are not assets report here).
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The first step or run failure message, for a one-line report.
    error: str | None = None
    #: Metadata the failing step attached to its ``dg.Failure`` (which dump, file, position).
    failure_metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.status == SUCCESS

    def metadata(self, asset_suffix: str) -> dict[str, Any]:
        """Merged metadata of the materializations whose key ends with ``asset_suffix``."""
        merged: dict[str, Any] = {}
        for m in self.materializations:
            if m.asset_key.split("/")[-1] == asset_suffix:
                merged.update(m.metadata)
        return merged


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    job_name: str
    status: str
    partition: str | None
    start_time: float | None
    end_time: float | None


class JobRunner(Protocol):
    """Where runs happen; ``where`` names it in messages ("local instance …", "http://…")."""

    where: str

    def add_partition(self, partitions_def: str, key: str) -> None: ...

    def run(
        self,
        job_name: str,
        *,
        run_config: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        partition: str | None = None,
        asset_selection: Sequence[str] | None = None,
        on_log: LogSink | None = None,
    ) -> RunOutcome: ...

    def recent_runs(self, limit: int) -> list[RunInfo]: ...

    def active_runs(self) -> list[RunInfo]: ...
