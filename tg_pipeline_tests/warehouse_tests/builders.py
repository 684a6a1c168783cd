"""Records built the way the readers build them, and table snapshots for comparisons."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa

from tg_pipeline.records import BatchBuilder
from tg_pipeline.warehouse import DumpRecord, Warehouse
from tg_pipeline.warehouse.chat_stats import fresh_chat_stats
from tg_pipeline.warehouse.columns import TABLES as WAREHOUSE_TABLES
from tg_pipeline.warehouse.pg import PgWarehouse

#: Every table a snapshot compares: the warehouse's own, and its migration ledger.
TABLES = (*WAREHOUSE_TABLES, "schema_migrations")

BASE_TIME = 1_661_936_496  # 2022-08-31T09:01:36Z


def json_row(message_id: int, **fields: Any) -> dict[str, Any]:
    """A record shaped like the JSON reader's: real chat id, unixtime, sender id."""
    row: dict[str, Any] = {
        "chat_id": 1001,
        "chat_name": "Team",
        "chat_type": "private_group",
        "message_id": message_id,
        "kind": "message",
        "sent_at": BASE_TIME + message_id * 10,
        "edited_at": None,
        "time_source": "unixtime",
        "sender_id": f"user{100 + message_id % 3}",
        "sender_name": f"Person {message_id % 3}",
        "text": f"message {message_id}",
        "entities": [{"type": "plain", "text": f"message {message_id}"}],
        "extra": {},
        "source_file": "result.json",
        "source_position": f"messages[{message_id}]",
    }
    row.update(fields)
    return row


def html_row(message_id: int, **fields: Any) -> dict[str, Any]:
    """A record shaped like the HTML reader's: no chat id, no sender id, offset time."""
    row = json_row(
        message_id,
        chat_id=None,
        chat_type=None,
        sender_id=None,
        time_source="html_offset",
        source_file="messages.html",
        source_position=f"element {message_id}",
    )
    row.update(fields)
    return row


def batches(rows: Iterable[dict[str, Any]], size: int = 1000) -> Iterator[pa.RecordBatch]:
    yield from BatchBuilder(size).extend(rows)


def dump(dump_id: str, kind: str = "telegram_json") -> DumpRecord:
    return DumpRecord(
        dump_id=dump_id,
        kind=kind,
        fingerprint=f"fp-{dump_id}",
        source=f"/in/{dump_id}",
        files=[f"{dump_id}/result.json"],
    )


def sql(
    warehouse: Warehouse | PgWarehouse, query: str, params: list[Any] | None = None
) -> list[tuple[Any, ...]]:
    """Rows of ``query`` on either backend (``?`` parameters on both), as tuples. On
    PostgreSQL it commits, as each warehouse call does: a write is then seen by every
    session, and the warehouse's next call starts a transaction of its own."""
    rows = [tuple(row) for row in warehouse.sql_con.execute(query, params or []).fetchall()]
    if isinstance(warehouse, PgWarehouse) and not warehouse.read_only:
        warehouse.session.commit()
    return rows


def snapshot(warehouse: Warehouse | PgWarehouse) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order, for before/after comparisons."""
    return {table: sorted(sql(warehouse, f"SELECT * FROM {table}"), key=repr) for table in TABLES}


def assert_chat_stats_exact(warehouse: Warehouse | PgWarehouse) -> list[tuple[Any, ...]]:
    """The per-chat summary equals a fresh aggregate over ``messages``, row for row; its
    rows, by chat id."""
    kept = sql(warehouse, "SELECT * FROM chat_stats ORDER BY chat_id")
    fresh = sql(warehouse, f"{fresh_chat_stats()} ORDER BY chat_id")
    assert kept == fresh
    return kept


def record_rows(warehouse: Warehouse | PgWarehouse) -> list[tuple[Any, ...]]:
    from tg_pipeline.records import FIELD_NAMES

    return sql(
        warehouse, f"SELECT {', '.join(FIELD_NAMES)} FROM messages ORDER BY chat_id, message_id"
    )


#: Texts that break naive CSV, SQL or JSON handling.
HOSTILE_TEXTS = [
    "",
    "plain",
    'she said "hi", then left',
    "line one\nline two",
    "windows\r\nline",
    "lone\rcarriage",
    "comma, separated, values",
    "emoji 👍🏽 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    '"',
    '""',
    "NULL",
    "\\N",
    "  padded  ",
    "'; DROP TABLE messages; --",
    "tab\tinside",
]


def hostile_rows() -> list[dict[str, object]]:
    rows = []
    for i, text in enumerate(HOSTILE_TEXTS, start=1):
        rows.append(
            json_row(
                i,
                text=text,
                entities=[{"type": "plain", "text": text}, {"type": "link", "href": 'a"b,c'}],
                sender_name=text or None,
                forwarded_from="" if i % 2 else None,
                via_bot=text if i % 3 else None,
                reactions=[{"emoji": "👍", "count": i, "nested": {"q": '"x"\n'}}]
                if i % 2
                else None,
                extra={"raw": text, "list": [1, None, "a,b"]},
                media_path="" if i % 4 == 0 else None,
                edited_at=json_row(i)["sent_at"] + 5 if i % 5 == 0 else None,
            )
        )
    rows.append(html_row(500, chat_name='HTML chat, "quoted"\nname'))
    return rows


def fill_for_backup(warehouse: Warehouse | PgWarehouse) -> None:
    """Hostile values in a few chats, ingested in small batches: what a backup must keep."""
    warehouse.ingest(batches(hostile_rows(), size=4), dump=dump("hostile"))
    warehouse.ingest(
        batches([json_row(i, chat_id=2000 + i % 3) for i in range(1, 300)], size=50),
        dump=dump("bulk"),
    )
