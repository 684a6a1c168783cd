"""The README's example for each ``tg-pipeline`` command, exactly as the README shows it.

``test_examples.py`` runs these lines, in this order, through ``bash`` in a fresh directory
holding ``ChatExport_2022-08-31/result.json`` (the seed export), with the default data
directory ``./data``. The README copies them verbatim, so a documented example that stops
working fails the build.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Example:
    command: str
    line: str
    #: Text the example's stdout shows when it runs after the examples before it.
    shows: tuple[str, ...]


#: Export folder the examples ingest, and the file in it (copied from the seed fixture).
EXPORT_DIR = "ChatExport_2022-08-31"

EXAMPLES: tuple[Example, ...] = (
    Example(
        "ingest",
        "tg-pipeline ingest ChatExport_2022-08-31/",
        ("ChatExport_2022-08-31-", "telegram_json", "ingested"),
    ),
    Example(
        "messages",
        'tg-pipeline messages --chat "chat name" --since 2022-08-31 --text message1',
        ("message1", "message10", "user1"),
    ),
    Example(
        "messages",
        "tg-pipeline messages --sender username2 --format jsonl | head -n 1",
        ('"message_id":182652', '"text":"message2"'),
    ),
    Example(
        "counts",
        'tg-pipeline counts --chat "chat name" --format csv',
        ('"sender_key"', '"user272557771"'),
    ),
    Example("chats", "tg-pipeline chats", ("chat name", "1124496986")),
    Example("backup", "tg-pipeline backup --format parquet", (".parquet", "12 rows")),
    Example(
        "restore",
        "tg-pipeline restore data/backups/*.parquet",
        ("backup_parquet", "ingested"),
    ),
    Example(
        "delete",
        'tg-pipeline delete --chat "chat name" --sender username2 --dry-run',
        ("3 message(s) match", "dry run: nothing deleted"),
    ),
    Example("status", "tg-pipeline status", ("Warehouse", "Dumps", "Last runs", "Outbox")),
)
