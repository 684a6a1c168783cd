"""Telegram Desktop chat exports into a clean DuckDB warehouse.

The core (``records``, ``readers``, ``warehouse``, ``events``, ``ingest``, ``report``) imports
no Dagster; ``config`` reads the environment once; ``defs`` and ``definitions`` are the
Dagster layer; ``cli`` and ``demo`` are entry points over both.
"""

__version__ = "0.1.0"
