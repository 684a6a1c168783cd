"""The one `Definitions` of the project: `dagster dev`, `dagster job execute -m
tg_pipeline.definitions`, the code server and the CLI all load this module.

Each domain under :mod:`tg_pipeline.defs` declares its assets, checks, jobs and sensors;
this module merges them and adds the resources every domain shares.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from tg_pipeline.config import Settings

# Modules, not their ``defs``: Dagster refuses a module that holds more than one
# ``Definitions`` at its top level.
from tg_pipeline.defs.events import definitions as events_domain
from tg_pipeline.defs.shared.resources import build_resources
from tg_pipeline.defs.telegram import definitions as telegram_domain


def make_definitions(
    resources: dict[str, Any] | None = None, settings: Settings | None = None
) -> dg.Definitions:
    """The project's definitions, with some resources replaced (tests, the demo, the CLI).

    ``settings`` default to this process's environment; they are installed for the runs
    of this process (DuckDB and zip limits, progress interval, drain timeout).
    """
    settings = Settings.from_env() if settings is None else settings
    settings.install()
    return dg.Definitions.merge(
        telegram_domain.defs,
        events_domain.defs,
        dg.Definitions(
            resources={**build_resources(settings), **(resources or {})},
            executor=dg.in_process_executor,
        ),
    )


defs = make_definitions()
