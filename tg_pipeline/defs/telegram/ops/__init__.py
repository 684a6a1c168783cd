"""Ops for work that is not one asset partition at a time: the inbox at once, deletes."""
