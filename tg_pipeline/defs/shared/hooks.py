"""Hooks that make every run publish its own events before it ends, daemon or not.

After each step a run writes ``run_started`` to the outbox; after its last step it writes
its materializations, warnings and ``run_succeeded`` or ``run_failed`` (the same events, with
the same ids, as the daemon's run-status sensors), then drains the outbox to Kafka with a
bounded wait. So runs from the CLI, ``dagster job execute``, the UI and the sensors all
deliver their events at once. A broker that does not answer never fails a run: it logs
"N events wait for Kafka", tags the run with that number, and the relay sensor or the next
run sends them.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from tg_pipeline.defs.names import EVENTS_WAITING_TAG
from tg_pipeline.defs.shared import run_audit
from tg_pipeline.events import emit
from tg_pipeline.events.drain import drain_outbox

_RESOURCES = {"settings", "kafka"}


def _after_step(context: dg.HookContext) -> None:
    instance = context.instance
    run = instance.get_run_by_id(context.run_id)
    if run is None:
        return
    data_dir = context.resources.settings.paths().data_dir
    events: list[dict[str, Any]] = [run_audit.run_started(instance, run)]
    finished, failures = run_audit.steps_state(instance, run)
    if finished:
        events.extend(run_audit.run_log_events(instance, run))
        steps = run_audit.failed_steps(failures)
        events.append(
            run_audit.run_failed(instance, run, steps)
            if steps
            else run_audit.run_succeeded(instance, run)
        )
    try:
        emit(data_dir, events)
    except Exception as exc:  # a full disk must not hide the step's own outcome
        context.log.warning(f"run events could not be written to the outbox: {exc}")
    if finished:
        _drain(context, data_dir)


def _drain(context: dg.HookContext, data_dir: Any) -> None:
    kafka = context.resources.kafka
    if not kafka.enabled:
        return
    try:
        result = drain_outbox(data_dir, kafka.settings())
    except Exception as exc:
        context.log.warning(f"events not published at run end: {exc}")
        return
    if result.waiting:
        context.log.warning(result.summary())
        context.instance.add_run_tags(context.run_id, {EVENTS_WAITING_TAG: str(result.waiting)})
    else:
        context.log.info(result.summary())


@dg.success_hook(required_resource_keys=_RESOURCES)
def publish_run_events_on_success(context: dg.HookContext) -> None:
    _after_step(context)


@dg.failure_hook(required_resource_keys=_RESOURCES)
def publish_run_events_on_failure(context: dg.HookContext) -> None:
    _after_step(context)


RUN_EVENT_HOOKS = {publish_run_events_on_success, publish_run_events_on_failure}
