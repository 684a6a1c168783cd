"""The one `Definitions` of the project: `dagster dev`, `dagster job execute -m
tg_pipeline.definitions`, the code server and the CLI all load this module.

Each kind of definition is a plain list assembled here, so another domain (events, audit)
adds its assets, sensors, jobs and resources by extending a list, not by editing the
telegram group.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from tg_pipeline.assets import TELEGRAM_ASSETS, TELEGRAM_CHECKS
from tg_pipeline.assets.audit import AUDIT_ASSETS, AUDIT_JOBS
from tg_pipeline.assets.quarantine import QUARANTINE_ASSETS
from tg_pipeline.config import Settings
from tg_pipeline.jobs import JOBS
from tg_pipeline.jobs_admin import ADMIN_JOBS
from tg_pipeline.resources.guard import GUARD_KEY, warehouse_guard
from tg_pipeline.resources.kafka import kafka_resource
from tg_pipeline.resources.settings import pipeline_settings
from tg_pipeline.sensors import SENSORS
from tg_pipeline.sensors.events import EVENT_SENSORS

ASSETS: list[Any] = [*TELEGRAM_ASSETS, *AUDIT_ASSETS, *QUARANTINE_ASSETS]
ASSET_CHECKS: list[Any] = [*TELEGRAM_CHECKS]
JOB_DEFS: list[Any] = [*JOBS, *ADMIN_JOBS, *AUDIT_JOBS]
SENSOR_DEFS: list[Any] = [*SENSORS, *EVENT_SENSORS]


def build_resources(settings: Settings) -> dict[str, Any]:
    """Resources from the settings, with defaults that work on a bare machine."""
    return {
        "settings": pipeline_settings(settings),
        "kafka": kafka_resource(settings),
        GUARD_KEY: warehouse_guard,
    }


def make_definitions(
    resources: dict[str, Any] | None = None, settings: Settings | None = None
) -> dg.Definitions:
    """The project's definitions, with some resources replaced (tests, the demo, the CLI).

    ``settings`` default to this process's environment; they are installed for the runs
    of this process (DuckDB and zip limits, progress interval, drain timeout).
    """
    settings = Settings.from_env() if settings is None else settings
    settings.install()
    return dg.Definitions(
        assets=ASSETS,
        asset_checks=ASSET_CHECKS,
        jobs=JOB_DEFS,
        sensors=SENSOR_DEFS,
        resources={**build_resources(settings), **(resources or {})},
        executor=dg.in_process_executor,
    )


defs = make_definitions()
