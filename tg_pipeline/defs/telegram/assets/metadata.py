"""Materialization metadata a person reads in the UI: counts, schema, preview, files.

Assets and the inbox op report the same things in the same words, so a partition ingested
by `dagster job execute` looks like one ingested by the sensor.

Names and texts from a dump are data: they go to the UI as cells of a typed table
(``MetadataValue.table``), never as Markdown, so a sender named
``![x](http://host/p.png)`` shows as those characters instead of making every viewer's
browser fetch the image, and control and bidi characters are spelled out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg

from tg_pipeline.defs.names import Meta
from tg_pipeline.ingest import StagedDump
from tg_pipeline.visible import visible
from tg_pipeline.warehouse import IngestResult
from tg_pipeline.warehouse.backend import WarehouseApi, redacted
from tg_pipeline.warehouse.column_docs import column_doc

PREVIEW_ROWS = 5
_CELL_WIDTH = 48
#: Columns worth a glance in a preview; the full record has 24.
PREVIEW_COLUMNS = ("chat_id", "message_id", "kind", "sent_at", "sender_name", "text")
_LISTED = 20


def record_table(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None
) -> dg.TableMetadataValue:
    """A typed table of plain cells, text shortened to one line: no Markdown from data."""
    cols = list(columns) if columns else list(rows[0].keys()) if rows else []
    kinds = {c: _kind(next((r.get(c) for r in rows if r.get(c) is not None), None)) for c in cols}
    records = [dg.TableRecord(data={c: _cell(row.get(c), kinds[c]) for c in cols}) for row in rows]
    schema = dg.TableSchema(
        columns=[dg.TableColumn(name=c, type=kinds[c], description=column_doc(c)) for c in cols]
    )
    return dg.MetadataValue.table(records, schema=schema)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return "string"


def _cell(value: Any, kind: str) -> str | int | float | bool | None:
    if value is None or kind != "string":
        return value
    text = value.isoformat(sep=" ") if isinstance(value, datetime) else str(value)
    text = visible(" ".join(text.split()))
    return text if len(text) <= _CELL_WIDTH else text[: _CELL_WIDTH - 1] + "…"


def table_schema(columns: Mapping[str, str]) -> dg.TableSchema:
    """A warehouse table's columns for the UI, each with what it means."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name=name, type=type_, description=column_doc(name))
            for name, type_ in columns.items()
        ]
    )


def listed(values: Sequence[Any]) -> str:
    shown = ", ".join(str(v) for v in values[:_LISTED])
    more = len(values) - _LISTED
    return shown + (f" … and {more} more" if more > 0 else "") if values else "(none)"


def raw_dump_metadata(staged: StagedDump) -> dict[str, Any]:
    files = [
        {"file": f.path, "bytes": f.bytes, "sha256": f.sha256[:16] + "…"} for f in staged.files
    ]
    return {
        "dump_id": staged.dump_id,
        "kind": staged.kind,
        "fingerprint": staged.fingerprint,
        "source": dg.MetadataValue.path(str(staged.source)),
        "raw_copy": dg.MetadataValue.path(str(staged.directory)),
        "manifest": dg.MetadataValue.path(str(staged.manifest_path)),
        "files": len(staged.files),
        "total_bytes": staged.total_bytes,
        "file_list": record_table(files[:50], ("file", "bytes", "sha256")),
        # Always present, so a dump whose detection chose for the user says so in the UI.
        "notes": dg.MetadataValue.md("\n".join(f"- {note}" for note in staged.notes) or "none"),
    }


def duplicates_line(dump_id: str, result: IngestResult) -> str:
    """One line saying that the dump holds messages more than once, and where."""
    shown = "; ".join(result.duplicates_shown)
    return (
        f"dump {dump_id}: {result.duplicates} of {result.rows} records repeat a message "
        f"already in the dump (counted as duplicates, not stored twice): {shown}"
    )


def messages_metadata(
    result: IngestResult, warehouse: WarehouseApi, staged: StagedDump
) -> dict[str, Any]:
    counts = warehouse.row_counts()
    preview = warehouse.preview(PREVIEW_ROWS)
    noted = (
        {Meta.DUPLICATES_NOTE: duplicates_line(staged.dump_id, result)} if result.duplicates else {}
    )
    return {
        **noted,
        "dump_id": staged.dump_id,
        Meta.NEW: result.new,
        Meta.UPDATED: result.updated,
        Meta.UNCHANGED: result.unchanged,
        Meta.DUPLICATES: result.duplicates,
        Meta.ROWS_IN_DUMP: result.rows,
        "chats_touched": len(result.chats),
        "chat_ids": listed(result.chats),
        "senders_touched": len(result.senders),
        "sender_keys": listed(result.senders),
        Meta.ROW_COUNT: counts.get("messages", 0),
        "table_rows": dg.MetadataValue.json(counts),
        "dagster/column_schema": table_schema(warehouse.table_schema("messages")),
        "preview": record_table(preview, _preview_columns(preview)),
        "warehouse": dg.MetadataValue.path(str(_warehouse_path(warehouse))),
    }


def _preview_columns(rows: Sequence[Mapping[str, Any]]) -> Sequence[str]:
    if not rows:
        return PREVIEW_COLUMNS
    present = [c for c in PREVIEW_COLUMNS if c in rows[0]]
    return present or list(rows[0])


def _warehouse_path(warehouse: WarehouseApi) -> Path | str:
    """The DuckDB file, or the PostgreSQL database without its password."""
    url = getattr(warehouse, "url", None)
    if url is not None:
        return redacted(url)
    return getattr(warehouse, "path", "")


def path_value(path: str | Path) -> dg.MetadataValue:
    return dg.MetadataValue.path(str(path))
