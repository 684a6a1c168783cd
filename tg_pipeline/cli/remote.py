"""Run jobs on a running ``dagster-webserver`` through its GraphQL API (``--url``).

The webserver's GraphQL API is the "router" the old cluster never finished. This client
speaks plain HTTP with :mod:`urllib`: ``dagster_graphql.DagsterGraphQLClient`` covers launch
and status only, while the CLI also registers dynamic partitions and reads a run's logs and
materialization metadata, and it must turn every transport failure into one readable line.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

from tg_pipeline.cli.runner import (
    FINISHED_STATUSES,
    LogSink,
    Materialization,
    RunInfo,
    RunOutcome,
    clean_error,
)
from tg_pipeline.defs.names import INGEST_JOB, PARTITION_TAG
from tg_pipeline.errors import TgPipelineError

ACTIVE_STATUSES = ["QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"]


class RemoteError(TgPipelineError):
    """The webserver cannot be reached, is not a Dagster webserver, or refused a request."""


_REPOSITORIES = """
query Repositories {
  repositoriesOrError {
    __typename
    ... on RepositoryConnection { nodes { name location { name } jobs { name } } }
    ... on PythonError { message }
  }
}
"""

_ADD_PARTITION = """
mutation AddPartition($selector: RepositorySelector!, $name: String!, $key: String!) {
  addDynamicPartition(repositorySelector: $selector, partitionsDefName: $name,
                      partitionKey: $key) {
    __typename
    ... on AddDynamicPartitionSuccess { partitionKey }
    ... on DuplicateDynamicPartitionError { message }
    ... on UnauthorizedError { message }
    ... on PythonError { message }
  }
}
"""

_LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on Error { message }
  }
}
"""

_METADATA_FIELDS = """
  label
  __typename
  ... on IntMetadataEntry { intRepr }
  ... on FloatMetadataEntry { floatRepr }
  ... on BoolMetadataEntry { boolValue }
  ... on TextMetadataEntry { text }
  ... on PathMetadataEntry { path }
  ... on JsonMetadataEntry { jsonString }
  ... on MarkdownMetadataEntry { mdStr }
  ... on UrlMetadataEntry { url }
"""

_LOGS = f"""
query Logs($runId: ID!, $cursor: String) {{
  logsForRun(runId: $runId, afterCursor: $cursor) {{
    __typename
    ... on EventConnection {{
      cursor
      hasMore
      events {{
        __typename
        ... on MessageEvent {{ message stepKey }}
        ... on LogMessageEvent {{ level }}
        ... on MaterializationEvent {{
          assetKey {{ path }}
          partition
          metadataEntries {{ {_METADATA_FIELDS} }}
        }}
        ... on ExecutionStepOutputEvent {{ metadataEntries {{ {_METADATA_FIELDS} }} }}
        ... on ExecutionStepFailureEvent {{
          error {{ message }}
          failureMetadata {{ metadataEntries {{ {_METADATA_FIELDS} }} }}
        }}
        ... on RunFailureEvent {{ error {{ message }} }}
      }}
    }}
    ... on PythonError {{ message }}
    ... on RunNotFoundError {{ message }}
  }}
  runOrError(runId: $runId) {{
    __typename
    ... on Run {{ status jobName }}
    ... on Error {{ message }}
  }}
}}
"""

_RUNS = """
query Runs($limit: Int, $filter: RunsFilter) {
  runsOrError(limit: $limit, filter: $filter) {
    __typename
    ... on Runs {
      results { runId jobName status tags { key value } startTime endTime }
    }
    ... on Error { message }
  }
}
"""


def _metadata_value(entry: Mapping[str, Any]) -> Any:
    kind = entry["__typename"]
    if kind == "IntMetadataEntry":
        return int(entry["intRepr"])
    if kind == "FloatMetadataEntry":
        return float(entry["floatRepr"])
    if kind == "BoolMetadataEntry":
        return entry["boolValue"]
    if kind == "JsonMetadataEntry":
        return json.loads(entry["jsonString"])
    for key in ("text", "path", "mdStr", "url"):
        if key in entry:
            return entry[key]
    return None


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


class RemoteRunner:
    """A :class:`~tg_pipeline.cli.runner.JobRunner` backed by a dagster-webserver."""

    def __init__(self, url: str, *, timeout_s: float = 30.0, poll_s: float = 0.5) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise RemoteError(
                f"--url must be a webserver address like http://127.0.0.1:3000, got {url!r}"
            )
        self.url = url.rstrip("/")
        self.where = self.url
        self._endpoint = self.url + "/graphql"
        self._timeout_s = timeout_s
        self._poll_s = poll_s
        self._repositories: list[dict[str, Any]] | None = None

    # -- transport -------------------------------------------------------------------------

    def query(self, document: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Send one GraphQL document; return ``data`` or raise :class:`RemoteError`."""
        body = json.dumps({"query": document, "variables": dict(variables or {})}).encode()
        request = urllib.request.Request(
            self._endpoint,
            data=body,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise RemoteError(
                f"{self.url} did not answer as a dagster-webserver (HTTP {exc.code} from /graphql)"
            ) from exc
        except urllib.error.URLError as exc:
            raise RemoteError(
                f"cannot reach dagster-webserver at {self.url}: {exc.reason}"
            ) from exc
        except (TimeoutError, ConnectionError) as exc:
            raise RemoteError(f"cannot reach dagster-webserver at {self.url}: {exc}") from exc
        try:
            payload = json.loads(raw)
        except ValueError as exc:
            raise RemoteError(
                f"{self.url} did not answer as a dagster-webserver (no JSON from /graphql)"
            ) from exc
        if not isinstance(payload, dict) or ("data" not in payload and "errors" not in payload):
            raise RemoteError(f"{self.url} did not answer as a dagster-webserver")
        if payload.get("errors"):
            message = payload["errors"][0].get("message", payload["errors"][0])
            raise RemoteError(f"dagster-webserver at {self.url} rejected a request: {message}")
        return payload["data"]

    # -- repository lookup -----------------------------------------------------------------

    def _repository_for(self, job_name: str) -> dict[str, str]:
        if self._repositories is None:
            result = self.query(_REPOSITORIES)["repositoriesOrError"]
            if result["__typename"] != "RepositoryConnection":
                raise RemoteError(
                    f"dagster-webserver at {self.url} cannot list its code: "
                    + _first_line(result.get("message", result["__typename"]))
                )
            self._repositories = result["nodes"]
        for repo in self._repositories:
            if any(job["name"] == job_name for job in repo["jobs"]):
                return {
                    "repositoryName": repo["name"],
                    "repositoryLocationName": repo["location"]["name"],
                }
        raise RemoteError(f"dagster-webserver at {self.url} has no job named {job_name!r}")

    # -- JobRunner ---------------------------------------------------------------------------

    def add_partition(self, partitions_def: str, key: str, *, job_name: str = INGEST_JOB) -> None:
        selector = self._repository_for(job_name)
        result = self.query(
            _ADD_PARTITION, {"selector": selector, "name": partitions_def, "key": key}
        )["addDynamicPartition"]
        if result["__typename"] not in (
            "AddDynamicPartitionSuccess",
            "DuplicateDynamicPartitionError",
        ):
            raise RemoteError(
                f"dagster-webserver refused to register partition {key!r}: "
                + _first_line(result.get("message", result["__typename"]))
            )

    def launch(
        self,
        job_name: str,
        *,
        run_config: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        partition: str | None = None,
        asset_selection: Sequence[str] | None = None,
    ) -> str:
        """Submit a run and return its id without waiting for it."""
        all_tags = dict(tags or {})
        selector: dict[str, Any] = {"jobName": job_name, **self._repository_for(job_name)}
        if asset_selection:
            selector["assetSelection"] = [{"path": k.split("/")} for k in asset_selection]
        if partition is not None:
            all_tags[PARTITION_TAG] = partition
        params = {
            "selector": selector,
            "runConfigData": dict(run_config or {}),
            "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in all_tags.items()]},
        }
        result = self.query(_LAUNCH, {"params": params})["launchRun"]
        kind = result["__typename"]
        if kind == "LaunchRunSuccess":
            return result["run"]["runId"]
        if kind == "RunConfigValidationInvalid":
            detail = "; ".join(e["message"] for e in result["errors"])
        else:
            detail = _first_line(result.get("message", kind))
        raise RemoteError(f"dagster-webserver did not launch {job_name}: {detail}")

    def follow(self, run_id: str, *, on_log: LogSink | None = None) -> RunOutcome:
        """Poll the run's event log until it finishes; return what it materialized."""
        cursor: str | None = None
        materializations: list[Materialization] = []
        outputs: dict[str, dict[str, Any]] = {}
        error: str | None = None
        failure_metadata: dict[str, Any] = {}
        job_name = ""
        while True:
            data = self.query(_LOGS, {"runId": run_id, "cursor": cursor})
            run = data["runOrError"]
            if run["__typename"] != "Run":
                raise RemoteError(f"run {run_id}: {_first_line(run.get('message', ''))}")
            job_name = run["jobName"]
            logs = data["logsForRun"]
            if logs["__typename"] != "EventConnection":
                raise RemoteError(f"run {run_id}: {_first_line(logs.get('message', ''))}")
            for event in logs["events"]:
                kind = event["__typename"]
                if kind == "LogMessageEvent" and on_log is not None:
                    on_log(event["message"])
                elif kind == "MaterializationEvent":
                    materializations.append(
                        Materialization(
                            asset_key="/".join(event["assetKey"]["path"]),
                            partition=event.get("partition"),
                            metadata={
                                e["label"]: _metadata_value(e) for e in event["metadataEntries"]
                            },
                        )
                    )
                elif kind == "ExecutionStepOutputEvent" and event.get("stepKey"):
                    outputs.setdefault(event["stepKey"], {}).update(
                        {e["label"]: _metadata_value(e) for e in event["metadataEntries"]}
                    )
                elif kind in ("ExecutionStepFailureEvent", "RunFailureEvent") and error is None:
                    failure = event.get("error") or {}
                    error = clean_error(failure.get("message") or event["message"])
                    entries = (event.get("failureMetadata") or {}).get("metadataEntries", [])
                    failure_metadata = {e["label"]: _metadata_value(e) for e in entries}
            cursor = logs["cursor"]
            if logs["hasMore"]:
                continue
            if run["status"] in FINISHED_STATUSES:
                return RunOutcome(
                    run_id=run_id,
                    job_name=job_name,
                    status=run["status"],
                    materializations=materializations,
                    outputs=outputs,
                    error=error,
                    failure_metadata=failure_metadata,
                )
            time.sleep(self._poll_s)

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
        run_id = self.launch(
            job_name,
            run_config=run_config,
            tags=tags,
            partition=partition,
            asset_selection=asset_selection,
        )
        try:
            return self.follow(run_id, on_log=on_log)
        except KeyboardInterrupt:
            raise RemoteError(
                f"stopped following run {run_id}; it goes on at {self.url}/runs/{run_id}"
            ) from None

    def _runs(self, limit: int | None, statuses: list[str] | None) -> list[RunInfo]:
        variables: dict[str, Any] = {"limit": limit}
        if statuses:
            variables["filter"] = {"statuses": statuses}
        result = self.query(_RUNS, variables)["runsOrError"]
        if result["__typename"] != "Runs":
            raise RemoteError(f"cannot list runs: {_first_line(result.get('message', ''))}")
        runs = []
        for r in result["results"]:
            tags = {t["key"]: t["value"] for t in r["tags"]}
            runs.append(
                RunInfo(
                    run_id=r["runId"],
                    job_name=r["jobName"],
                    status=r["status"],
                    partition=tags.get(PARTITION_TAG),
                    start_time=r["startTime"],
                    end_time=r["endTime"],
                )
            )
        return runs

    def recent_runs(self, limit: int) -> list[RunInfo]:
        return self._runs(limit, None)

    def active_runs(self) -> list[RunInfo]:
        return self._runs(None, ACTIVE_STATUSES)
