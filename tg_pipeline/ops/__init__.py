"""Ops for work that is not one asset partition at a time."""
