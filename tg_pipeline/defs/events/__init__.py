"""The events domain: the ``audit_log`` asset and its job, the outbox relay and the run
audit sensors. Imports ``defs.shared``, ``defs.names`` and the core."""
