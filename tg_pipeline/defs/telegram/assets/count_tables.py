"""``user_message_counts`` as typed tables the UI shows in full: one row per chat (totals and
its top senders) and the top senders overall, instead of Markdown that the UI folds away."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from tg_pipeline.visible import visible

#: Chats in the per-chat table, busiest first.
CHAT_ROWS = 50
#: Senders named per chat in its ``top_senders`` cell.
SENDERS_PER_CHAT = 3

PER_CHAT_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("chat", "string"),
        dg.TableColumn("chat_id", "int"),
        dg.TableColumn("messages", "int"),
        dg.TableColumn("senders", "int"),
        dg.TableColumn("top_senders", "string", description="the most active, with counts"),
        dg.TableColumn("last_message_utc", "string"),
    ]
)
TOP_SENDERS_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("sender", "string"),
        dg.TableColumn("chat", "string"),
        dg.TableColumn("messages", "int"),
        dg.TableColumn("first_message_utc", "string"),
        dg.TableColumn("last_message_utc", "string"),
    ]
)


def _utc(value: datetime | None) -> str | None:
    """Minutes in UTC: short enough that the UI's table does not clip it."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value is not None else None


def _chat(row: Mapping[str, Any]) -> str:
    return visible(str(row.get("chat_name") or f"chat {row['chat_id']}"))


def _sender(row: Mapping[str, Any]) -> str:
    return visible(str(row.get("sender_name") or row["sender_key"]))


def per_chat_table(rows: Sequence[Mapping[str, Any]]) -> dg.TableMetadataValue:
    """Rows of ``Warehouse.counts()`` (biggest first) summed per chat."""
    chats: dict[int, dict[str, Any]] = {}
    for row in rows:
        entry = chats.setdefault(
            row["chat_id"], {"chat": _chat(row), "messages": 0, "senders": [], "last": None}
        )
        entry["messages"] += int(row["message_count"])
        entry["senders"].append(row)
        last = row.get("last_message_at")
        if last is not None and (entry["last"] is None or last > entry["last"]):
            entry["last"] = last
    ordered = sorted(chats.items(), key=lambda item: (-item[1]["messages"], item[0]))
    records = [
        dg.TableRecord(
            {
                "chat": entry["chat"],
                "chat_id": chat_id,
                "messages": entry["messages"],
                "senders": len(entry["senders"]),
                "top_senders": ", ".join(
                    f"{_sender(r)} ({r['message_count']:,})"
                    for r in entry["senders"][:SENDERS_PER_CHAT]
                ),
                "last_message_utc": _utc(entry["last"]),
            }
        )
        for chat_id, entry in ordered[:CHAT_ROWS]
    ]
    return dg.MetadataValue.table(records=records, schema=PER_CHAT_SCHEMA)


def top_senders_table(rows: Sequence[Mapping[str, Any]]) -> dg.TableMetadataValue:
    records = [
        dg.TableRecord(
            {
                "sender": _sender(row),
                "chat": _chat(row),
                "messages": int(row["message_count"]),
                "first_message_utc": _utc(row.get("first_message_at")),
                "last_message_utc": _utc(row.get("last_message_at")),
            }
        )
        for row in rows
    ]
    return dg.MetadataValue.table(records=records, schema=TOP_SENDERS_SCHEMA)
