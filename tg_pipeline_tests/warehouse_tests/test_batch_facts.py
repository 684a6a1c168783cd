"""A dump's chats, sender keys and names taken from its Arrow batches give what the SQL
over the same rows gives (the statements the upsert ran before it read them from Arrow)."""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa

from tg_pipeline.warehouse.batch_facts import DumpFacts, names_of_new
from tg_pipeline.warehouse.columns import sender_key_arrow, sender_key_sql
from tg_pipeline.warehouse.dialect import POSTGRES
from tg_pipeline.warehouse.round_sql import NAMES_ALL_NEW
from tg_pipeline_tests.warehouse_tests.builders import batches, html_row, json_row, sql
from tg_pipeline_tests.warehouse_tests.conftest import AnyWarehouse


def _rows() -> pa.Table:
    """Two chats, a rename and a type only some rows carry, senders by id, by name only,
    with an empty name and with none, and times that tie."""
    rows: list[dict[str, Any]] = [
        json_row(1, chat_name="Old name", chat_type=None),
        json_row(2, chat_name="New name"),
        json_row(3, chat_name=None, chat_type=None, sent_at=json_row(2)["sent_at"]),
        json_row(4, chat_id=77, chat_name="Other", chat_type="personal_chat"),
        json_row(5, chat_id=77, chat_name="Other renamed", chat_type=None),
        json_row(6, sender_id=None, sender_name="Só name"),
        json_row(7, sender_id=None, sender_name=""),
        json_row(8, sender_id=None, sender_name=None),
        json_row(9, sender_id="", sender_name="Empty id"),
        html_row(10, chat_id=1001),
    ]
    return pa.Table.from_batches(list(batches(rows)))


def _arrow_keys(rows: pa.Table) -> list[str | None]:
    keys = sender_key_arrow(rows["sender_id"], rows["sender_name"])
    return list(keys.to_pylist())


def test_sender_keys_from_arrow_are_the_sql_ones_on_both_backends(
    any_warehouse: AnyWarehouse,
) -> None:
    rows = _rows()
    con = any_warehouse.sql_con
    con.register("_facts_rows", rows)
    try:
        found = sql(
            any_warehouse,
            f"SELECT message_id, {sender_key_sql()} FROM _facts_rows ORDER BY message_id",
        )
    finally:
        con.unregister("_facts_rows")
    assert [key for _, key in found] == _arrow_keys(rows)
    assert _arrow_keys(rows)[5:9] == ["name:Só name", "name:", None, ""]


def _sql_chats(rows: pa.Table) -> dict[int, tuple[Any, ...]]:
    """The chat facts as the PostgreSQL upsert's SQL spelled them (its arg_max skips NULL
    values), run on DuckDB over the same rows."""
    con = duckdb.connect()
    con.register("b", rows)
    found = con.execute(
        f"SELECT chat_id, {POSTGRES.arg_max('chat_name', 'sent_at')}, "
        f"{POSTGRES.arg_max('chat_type', 'sent_at')}, max(sent_at) FROM b GROUP BY chat_id"
    ).fetchall()
    return {chat: (name, kind, latest) for chat, name, kind, latest in found}


def test_chats_folded_round_by_round_are_those_of_the_whole_dump() -> None:
    rows = _rows()
    whole = _sql_chats(rows)
    for size in (1, 3, rows.num_rows):
        facts = DumpFacts()
        for start in range(0, rows.num_rows, size):
            facts.add(rows.slice(start, size))
        chats = {c: (s.name, s.type, s.latest) for c, s in facts.chats.items()}
        assert chats == whole
    # A row without a name or type leaves the latest known one.
    assert whole[1001][:2] == ("Team", "private_group")
    assert whole[77][:2] == ("Other renamed", "personal_chat")


def test_a_rounds_own_chats_and_the_dumps_senders() -> None:
    rows = _rows()
    facts = DumpFacts()
    shown, keys = facts.add(rows.slice(0, 1))
    assert {c: (s.name, s.type) for c, s in shown.items()} == {1001: ("Old name", None)}
    assert keys.to_pylist() == ["user101"]
    facts.add(rows.slice(1))
    assert facts.senders == {k for k in _arrow_keys(rows) if k is not None}


def test_names_of_new_rows_are_those_the_sql_records() -> None:
    rows = _rows().append_column("_seq", pa.array(range(10), pa.int64()))
    con = duckdb.connect()
    con.execute(
        "CREATE TEMP TABLE _tg_names (sender_key VARCHAR, sender_id VARCHAR, "
        "name VARCHAR, first_seen TIMESTAMPTZ, last_seen TIMESTAMPTZ)"
    )
    con.register("_tg_batch", rows)
    con.execute(NAMES_ALL_NEW)
    expected = con.execute("SELECT * FROM _tg_names").fetchall()
    keys = sender_key_arrow(rows["sender_id"], rows["sender_name"])
    con.register("arrow_names", names_of_new(rows, keys))
    found = con.execute("SELECT * FROM arrow_names").fetchall()
    assert sorted(found, key=repr) == sorted(expected, key=repr)
