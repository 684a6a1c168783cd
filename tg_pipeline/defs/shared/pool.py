"""The ``warehouse`` pool's limit, matched to the warehouse's backend.

DuckDB lets one process write its file, so its steps take turns through a pool of one
slot (the instance's ``concurrency.pools.default_limit``). PostgreSQL takes writers side
by side, so on it the pool gets more slots than runs can ever use: no step waits for it.
The limit is set when a run starts (:mod:`.guard`), before its first step claims a slot,
and set back to one when the warehouse is DuckDB again.
"""

from __future__ import annotations

import dagster as dg

from tg_pipeline.defs.names import WAREHOUSE_POOL
from tg_pipeline.warehouse.backend import WarehouseTarget

#: More slots than concurrent runs: on PostgreSQL the pool never makes a step wait.
SHARED_WAREHOUSE_SLOTS = 1000


def match_warehouse_pool(instance: dg.DagsterInstance, target: WarehouseTarget) -> None:
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return
    try:
        slots = storage.get_concurrency_info(WAREHOUSE_POOL).slot_count
    except Exception:  # an instance with no such pool yet
        slots = 0
    if not target.writers_take_turns:
        if slots != SHARED_WAREHOUSE_SLOTS:
            storage.set_concurrency_slots(WAREHOUSE_POOL, SHARED_WAREHOUSE_SLOTS)
    elif slots == SHARED_WAREHOUSE_SLOTS:
        # Back from PostgreSQL: DuckDB's writers take turns again.
        storage.set_concurrency_slots(WAREHOUSE_POOL, 1)
