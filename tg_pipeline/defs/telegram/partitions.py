"""One dynamic partition per dump, named ``<inbox name>-<fingerprint prefix>``.

Dumps arrive whenever someone drops one, so the partition set is dynamic: the inbox sensor,
the inbox job and the CLI add a key when they first see a dump's content.
"""

from __future__ import annotations

import dagster as dg

from tg_pipeline.defs.names import DUMPS

dumps_partitions = dg.DynamicPartitionsDefinition(name=DUMPS)
