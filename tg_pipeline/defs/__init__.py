"""The Dagster layer: one subpackage of definitions per domain, plus what they share.

``telegram`` and ``events`` may import ``shared``, ``names`` and the core (readers,
warehouse, events, ingest), never each other; nothing outside the Dagster layer imports
them. ``tg_pipeline.definitions`` merges them into the project's one ``Definitions``.
"""
