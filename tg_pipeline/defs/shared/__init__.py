"""What every domain's definitions use: the resources, a run's context and its audit events,
the run hooks, the dead-run sweep. Imports Dagster, ``names`` and the core, no domain."""
