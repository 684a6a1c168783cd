"""Which chat or sender a name a user typed means.

A user remembers "Hiking Club", not ``Hiking Club 🥾⛺`` or ``-1001234567890``. A name is
tried, in order, as an id (or sender key), as an exact name ignoring case, as the start of
one name, then as a part of one name. The first step that finds anything decides: one
match is the answer, several are ambiguous. Nothing found gives the closest names instead.
An exact name that several chats or senders share means all of them, as it always has.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from tg_pipeline.warehouse.dialect import DUCKDB, Dialect, SqlCon
from tg_pipeline.warehouse.query_sql import settle

How = Literal["id", "exact", "prefix", "substring", "none"]

#: Candidates listed for an ambiguous or unknown name.
SHOWN = 5


@dataclass(frozen=True)
class Candidate:
    key: str
    name: str | None


@dataclass(frozen=True)
class NameMatch:
    """What a typed name matched: ``how``, and the matches (or closest names for ``none``).

    ``total`` counts every match, of which ``candidates`` holds the first :data:`SHOWN`.
    """

    how: How
    candidates: list[Candidate] = field(default_factory=list)
    total: int = 0

    @property
    def unique(self) -> Candidate | None:
        return self.candidates[0] if self.total == 1 else None


def _rows(con: SqlCon, sql: str, params: list[object]) -> tuple[list[Candidate], int]:
    settle(con)
    rows = con.execute(
        f"SELECT key, name, count(*) OVER () FROM ({sql}) m ORDER BY name, key LIMIT {SHOWN}",
        params,
    ).fetchall()
    return [Candidate(str(k), n) for k, n, _ in rows], int(rows[0][2]) if rows else 0


def _match(
    con: SqlCon, text: str, by_id: str, names: str, closest: str, dialect: Dialect
) -> NameMatch:
    """``names`` selects ``key, name`` pairs; the steps filter it on ``name``."""
    found, total = _rows(con, by_id, [text.strip(), text.strip()])
    if total:
        return NameMatch("id", found, total)
    steps: tuple[tuple[How, str], ...] = (
        ("exact", "lower(name) = lower(?)"),
        ("prefix", dialect.starts_with_ci("name", "?")),
        ("substring", dialect.contains_ci("name", "?")),
    )
    for how, condition in steps:
        sql = f"SELECT DISTINCT key, name FROM ({names}) n WHERE {condition}"
        found, total = _rows(con, sql, [text])
        if total:
            return NameMatch(how, found, total)
    settle(con)
    rows = con.execute(
        f"SELECT key, name FROM ({closest}) c WHERE name IS NOT NULL "
        f"ORDER BY {dialect.closeness('name', '?')} DESC, name, key "
        f"LIMIT {SHOWN}",
        [text],
    ).fetchall()
    return NameMatch("none", [Candidate(str(k), n) for k, n in rows], 0)


def match_chat(con: SqlCon, text: str, dialect: Dialect = DUCKDB) -> NameMatch:
    """The chats ``text`` names: an id, or a current or earlier name of the chat."""
    names = (
        "SELECT chat_id AS key, name FROM chats WHERE name IS NOT NULL "
        "UNION SELECT DISTINCT chat_id, chat_name FROM messages WHERE chat_name IS NOT NULL"
    )
    return _match(
        con,
        text,
        "SELECT chat_id AS key, name FROM chats "
        f"WHERE {dialect.chat_id_is('chat_id', '?')} OR {dialect.chat_id_is('chat_id', '?')}",
        names,
        "SELECT chat_id AS key, name FROM chats",
        dialect,
    )


def match_sender(con: SqlCon, text: str, dialect: Dialect = DUCKDB) -> NameMatch:
    """The senders ``text`` names: a sender id or key (``user123``, ``name:Alice``), or any
    name the sender has had."""
    names = (
        "SELECT sender_key AS key, name FROM sender_names "
        "UNION SELECT sender_key, name FROM senders WHERE name IS NOT NULL"
    )
    return _match(
        con,
        text,
        "SELECT sender_key AS key, name FROM senders "
        "WHERE lower(sender_key) = lower(?) OR lower(sender_id) = lower(?)",
        names,
        "SELECT sender_key AS key, name FROM senders",
        dialect,
    )
