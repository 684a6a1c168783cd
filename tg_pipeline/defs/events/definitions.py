"""The events domain's definitions, without resources (``tg_pipeline.definitions`` adds
them once for every domain)."""

from __future__ import annotations

import dagster as dg

from tg_pipeline.defs.events.assets import audit_log
from tg_pipeline.defs.events.jobs import JOBS
from tg_pipeline.defs.events.sensors import SENSORS

defs = dg.Definitions(assets=[audit_log], jobs=JOBS, sensors=SENSORS)
