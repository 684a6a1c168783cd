"""The telegram domain: dumps in, messages, counts and the report out, backups beside them,
the inbox sensor and the jobs. Imports ``defs.shared``, ``defs.names`` and the core."""
