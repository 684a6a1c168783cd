"""Telegram Desktop chat exports into a clean DuckDB warehouse."""

__version__ = "0.1.0"
