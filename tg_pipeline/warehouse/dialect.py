"""Where DuckDB's SQL and PostgreSQL's differ, spelled once for each.

The warehouse's statements are written once; the few constructs the two databases spell
differently come from a :class:`Dialect`. :data:`DUCKDB` gives back exactly the text the
DuckDB warehouse always ran, so choosing a dialect never changes DuckDB's statements.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class Rows(Protocol):
    def fetchall(self) -> list[Any]: ...
    def fetchone(self) -> Any: ...


class SqlCon(Protocol):
    """What the shared statements need of a connection: DuckDB's, or the PostgreSQL
    session (:class:`tg_pipeline.warehouse.pg.session.PgSession`), which takes the same
    ``?`` and ``$n`` parameters and registers Arrow data under a name the SQL reads."""

    def execute(self, query: str, parameters: Any = ..., /) -> Rows: ...
    def register(self, view_name: str, python_object: Any, /) -> Any: ...
    def unregister(self, view_name: str, /) -> Any: ...


@dataclass(frozen=True)
class Dialect:
    name: str

    @property
    def postgres(self) -> bool:
        return self.name == "postgres"

    def any_value(self, expr: str) -> str:
        """One non-NULL value of ``expr`` in the group (PostgreSQL 15 has no any_value)."""
        return f"max({expr})" if self.postgres else f"any_value({expr})"

    def arg_max(self, arg: str, *keys: str) -> str:
        """``arg`` of the row with the greatest ``keys``, skipping NULL ``arg`` as DuckDB's
        ``arg_max`` does."""
        if not self.postgres:
            key = keys[0] if len(keys) == 1 else f"({', '.join(keys)})"
            return f"arg_max({arg}, {key})"
        order = ", ".join(f"{k} DESC" for k in keys)
        return f"(array_agg({arg} ORDER BY {order}) FILTER (WHERE {arg} IS NOT NULL))[1]"

    def temp_table_as(self, name: str, select: str) -> tuple[str, ...]:
        """Statements that (re)create temp table ``name`` from ``select``."""
        if not self.postgres:
            return (f"CREATE OR REPLACE TEMP TABLE {name} AS {select}",)
        return (f"DROP TABLE IF EXISTS {name}", f"CREATE TEMP TABLE {name} AS {select}")

    def set_state(self) -> str:
        """Set ``warehouse_state`` row ``?`` to ``?``."""
        if not self.postgres:
            return "INSERT OR REPLACE INTO warehouse_state VALUES (?, ?)"
        return (
            "INSERT INTO warehouse_state VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
        )

    def counted(self, statement: str) -> str:
        """``statement`` (an INSERT or DELETE) returning one row: how many rows it changed.
        DuckDB's DML returns that count itself; PostgreSQL's needs RETURNING."""
        if not self.postgres:
            return statement
        return f"WITH changed AS ({statement} RETURNING 1) SELECT count(*) FROM changed"

    def row_hash(self, columns: tuple[str, ...], p: str = "") -> str:
        """One hash over ``columns``: equal rows hash equal, NULL differs from ''."""
        listed = ", ".join(f"{p}{c}" for c in columns)
        return f"md5(ROW({listed})::TEXT)" if self.postgres else f"hash({listed})"

    def iso_utc(self, column: str) -> str:
        """An instant as ISO-8601 text in UTC with microseconds and ``+00:00``."""
        if self.postgres:
            return (
                f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') || '+00:00'"
            )
        return f"strftime(timezone('UTC', {column}), '%Y-%m-%dT%H:%M:%S.%f') || '+00:00'"

    def starts_with_ci(self, column: str, param: str) -> str:
        return f"starts_with(lower({column}), lower({param}))"

    def closeness(self, column: str, param: str) -> str:
        """A sort key, highest first, for how close ``column`` is to the text ``param``.
        PostgreSQL has no string similarity without an extension: there, names sharing
        the longest common start come first. ``param`` appears once, so that a ``?``
        takes one value on both backends."""
        if not self.postgres:
            return f"jaro_winkler_similarity(lower({column}), lower({param}))"
        return (
            f"(SELECT count(*) FROM (SELECT lower({param}) AS p) q, generate_series(1, "
            f"least(length({column}), length(q.p))) i "
            f"WHERE left(lower({column}), i) = left(q.p, i))"
        )

    def lock_order(self, keys: str) -> str:
        """An ORDER BY for an upsert into a shared table: concurrent PostgreSQL writers
        then lock its rows in one order and cannot deadlock on them. DuckDB has one
        writer and needs none."""
        return f" ORDER BY {keys}" if self.postgres else ""

    def chat_id_is(self, column: str, param: str) -> str:
        """``column`` equals the text parameter read as a chat id (never an error)."""
        if not self.postgres:
            return f"{column} = TRY_CAST({param} AS BIGINT)"
        return f"{column}::TEXT = {param}"

    def text_list(self, expr: str, order: str) -> str:
        """The group's ``expr`` values as a list in ``order``; an empty list, not NULL, is
        :meth:`empty_text_list`."""
        if not self.postgres:
            return f"list({expr} ORDER BY {order})"
        return f"array_agg({expr} ORDER BY {order})"

    def empty_text_list(self) -> str:
        return "'{}'::VARCHAR[]" if self.postgres else "[]::VARCHAR[]"

    def contains_ci(self, column: str, param: str) -> str:
        if not self.postgres:
            return f"contains(lower({column}), lower({param}))"
        return f"strpos(lower({column}), lower({param})) > 0"

    def regex_ci(self, column: str, param: str) -> str:
        return (
            f"{column} ~* {param}" if self.postgres else f"regexp_matches({column}, {param}, 'i')"
        )


DUCKDB = Dialect("duckdb")
POSTGRES = Dialect("postgres")
