"""Render query results as a terminal table, JSON Lines or CSV.

``table`` is for people: a few chosen columns, one line per row, cut to the terminal width.
Cells show data literally (:mod:`.safe_text`): no Rich markup, control characters spelled
out, widths in display cells.
``jsonl`` and ``csv`` are for pipes: every column, every row, nothing truncated. JSON Lines
rows have the shape ``tg-pipeline parse`` prints (instants as ISO-8601 with offset, JSON
columns parsed). CSV keeps JSON columns as their JSON text (lists, such as a chat's dumps,
become JSON text too) and writes nulls unquoted and
strings quoted, so ``pyarrow.csv`` or DuckDB (``allow_quoted_nulls=false``) read back the
same rows, empty strings and nulls told apart.

CSV cells are faithful: a text starting with ``=``, ``+``, ``-`` or ``@`` is written as it
is, and a spreadsheet opening the file may run it as a formula. ``--csv-safe`` (for files
meant for a spreadsheet) prefixes such text cells, and those starting with a tab or a
carriage return, with ``'`` as OWASP advises; backups are never altered.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, BinaryIO

import click
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from rich import box
from rich.console import Console
from rich.table import Table

from tg_pipeline.cli.safe_text import cell_len, clip, plain, visible
from tg_pipeline.records import JSON_FIELDS

#: Columns whose text is JSON: parsed in JSON Lines output, kept as text in CSV.
JSON_COLUMNS = frozenset(JSON_FIELDS) | {"payload"}

#: Display cells a table cell shows at most (a CJK character or an emoji takes two).
MAX_CELL_CHARS = 200
#: Rules under the header only: no vertical lines, so more room for the cells.
TABLE_BOX = box.SIMPLE_HEAD
#: Widest a column that is not one of a table's ``wide`` columns may get.
NARROW_MAX = 24


class OutputFormat(StrEnum):
    TABLE = "table"
    JSONL = "jsonl"
    CSV = "csv"


FORMAT_CHOICES = [f.value for f in OutputFormat]


def _iso(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


_UTC_SECONDS = pa.timestamp("s", tz="UTC")
_UTC_MICROS = pa.timestamp("us", tz="UTC")


def iso_text(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Instants as ISO-8601 text with offset, in UTC (``2022-08-31T09:01:36+00:00``), the
    form JSON Lines and CSV both use. Whole seconds are formatted by Arrow; an instant
    with a fraction of a second (rare in exports) goes through Python's ``isoformat``."""
    micros = column.cast(_UTC_MICROS)
    seconds = micros.cast(_UTC_SECONDS, safe=False)
    text = pc.binary_join_element_wise(
        pc.strftime(seconds, format="%Y-%m-%dT%H:%M:%S"), "+00:00", ""
    )
    exact = pc.fill_null(pc.equal(seconds.cast(_UTC_MICROS), micros), True)
    if pc.all(exact).as_py():
        return text
    fallback = pa.array([None if v is None else _iso(v) for v in micros.to_pylist()], pa.string())
    return pc.if_else(exact, text, fallback)


def _is_instant(kind: pa.DataType) -> bool:
    return pa.types.is_timestamp(kind)


def _parse_json(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value


def _batches(data: pa.Table | Iterable[pa.RecordBatch]) -> Iterable[pa.RecordBatch]:
    return data.to_batches() if isinstance(data, pa.Table) else data


#: Rows turned into Python objects at a time when writing JSON Lines: a batch of long
#: messages as Python objects takes several times its Arrow size.
JSONL_SLICE_ROWS = 2_000


def _json_fragment(value: Any) -> Any:
    """A stored JSON column's text, embedded as it is instead of parsed and re-encoded;
    text that is not a JSON object or array stays a string."""
    if isinstance(value, str) and value[:1] in ("{", "[") and value[-1:] in ("}", "]"):
        return orjson.Fragment(value)
    return _parse_json(value)


def write_jsonl(data: pa.Table | Iterable[pa.RecordBatch], out: BinaryIO) -> int:
    """Rows as JSON Lines, one batch at a time; returns the number of rows written."""
    rows = 0
    for whole in _batches(data):
        for start in range(0, whole.num_rows, JSONL_SLICE_ROWS):
            batch = whole.slice(start, JSONL_SLICE_ROWS)
            names = batch.schema.names
            columns: list[list[Any]] = []
            for name, column in zip(names, batch.columns, strict=True):
                if _is_instant(column.type):
                    values = iso_text(column).to_pylist()
                else:
                    values = column.to_pylist()
                    if name in JSON_COLUMNS:
                        values = [_json_fragment(v) for v in values]
                columns.append(values)
            out.write(
                b"".join(
                    orjson.dumps(
                        dict(zip(names, row, strict=True)),
                        option=orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE,
                    )
                    for row in zip(*columns, strict=True)
                )
            )
            rows += batch.num_rows
    return rows


def _csv_schema(schema: pa.Schema) -> pa.Schema:
    """Lists and structs (a chat's dumps, say) are written as JSON text: CSV cells are flat;
    instants as ISO-8601 text with offset, as in JSON Lines."""
    return pa.schema(
        [
            pa.field(f.name, pa.string())
            if pa.types.is_nested(f.type) or _is_instant(f.type)
            else f
            for f in schema
        ]
    )


def _flatten(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    arrays = []
    for column, source in zip(batch.columns, batch.schema, strict=True):
        if pa.types.is_nested(source.type):
            column = pa.array(
                [
                    None if v is None else orjson.dumps(v, default=str).decode()
                    for v in column.to_pylist()
                ],
                pa.string(),
            )
        elif _is_instant(source.type):
            column = iso_text(column)
        arrays.append(column)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


#: Text a spreadsheet may take for a formula when it starts a cell (OWASP "CSV injection").
_FORMULA_START = r"^[=+\-@\t\r]"


def _defuse(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Text cells that would start a formula, prefixed with ``'``; other cells as they are."""
    arrays = []
    for column in batch.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            risky = pc.fill_null(pc.match_substring_regex(column, _FORMULA_START), False)
            if pc.any(risky).as_py():
                quoted = pc.binary_join_element_wise("'", column, "")
                column = pc.if_else(risky, quoted, column)
        arrays.append(column)
    return pa.RecordBatch.from_arrays(arrays, schema=batch.schema)


def write_csv(data: pa.Table | pa.RecordBatchReader, out: BinaryIO, *, safe: bool = False) -> int:
    """Rows as CSV, one batch at a time; ``safe`` defuses cells a spreadsheet would read
    as a formula. Returns the number of rows written."""
    schema = _csv_schema(data.schema)
    options = pa_csv.WriteOptions(include_header=True, quoting_style="needed")
    rows = 0
    with pa_csv.CSVWriter(out, schema, write_options=options) as writer:
        for batch in _batches(data):
            flat = _flatten(batch, schema)
            writer.write_batch(_defuse(flat) if safe else flat)
            rows += batch.num_rows
    return rows


_CSV_SAFE = "tg_pipeline.csv_safe"


def _remember_csv_safe(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    ctx.meta[_CSV_SAFE] = value


csv_safe_option = click.option(
    "--csv-safe",
    is_flag=True,
    expose_value=False,
    callback=_remember_csv_safe,
    help="With --format csv: prefix text cells that start with = + - @, a tab or a CR "
    "with ' so a spreadsheet shows them instead of running a formula.",
)


def _csv_safe() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.meta.get(_CSV_SAFE))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value)
    return clip(visible(" ".join(str(value).split())), MAX_CELL_CHARS)


def _is_text(table: pa.Table, name: str) -> bool:
    kind = table.schema.field(name).type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


#: Narrowest a text column (a wide one) gets before optional columns are left out.
TEXT_MIN = 8
WIDE_MIN = 20


@dataclass(frozen=True)
class View:
    """How a result shows as a terminal table (JSON Lines and CSV always show everything).

    ``columns`` in display order; ``optional`` ones are left out, last first, when the
    terminal is too narrow for all; ``wide`` text columns share the leftover width and are
    cut first; ``headers`` renames columns for display.
    """

    columns: tuple[str, ...]
    optional: tuple[str, ...] = ()
    wide: tuple[str, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)


def _text_widths(
    naturals: dict[str, int], fixed: int, wide: Sequence[str], width: int
) -> dict[str, int]:
    """Widths for the text columns so that the table fits ``width``.

    Times, ids and counts keep their full width. Text columns that are not ``wide`` keep
    theirs up to :data:`NARROW_MAX`; ``wide`` columns share the rest. When even that does
    not fit, the narrow text columns give way too, down to :data:`TEXT_MIN` characters.
    """
    budget = max(width - fixed, 0)
    narrow = {n: min(w, NARROW_MAX) for n, w in naturals.items() if n not in wide}
    wide_naturals = {n: w for n, w in naturals.items() if n in wide}
    # Wide columns get at least TEXT_MIN characters or half the text budget, if more.
    wide_floor = sum(min(w, max(TEXT_MIN, budget // 2)) for w in wide_naturals.values())
    while sum(narrow.values()) + wide_floor > budget and any(w > TEXT_MIN for w in narrow.values()):
        widest = max(narrow, key=narrow.__getitem__)
        narrow[widest] -= 1
    left = max(budget - sum(narrow.values()), len(wide_naturals))
    widths = dict(narrow)
    for name, natural in wide_naturals.items():
        widths[name] = min(natural, max(left // max(len(wide_naturals), 1), 1))
    return widths


def _header(table: pa.Table, view: View, name: str) -> str:
    """A column's heading; times say their zone (every instant is shown in UTC)."""
    header = view.headers.get(name, name)
    return f"{header} (UTC)" if _is_instant(table.schema.field(name).type) else header


def _layout(
    table: pa.Table, view: View, rows: list[dict[str, str]], width: int
) -> tuple[list[str], dict[str, int]]:
    """The columns that fit ``width`` (dropping optional ones) and each one's width."""
    names = [c for c in view.columns if c in table.column_names]
    while True:
        naturals = {
            n: max([cell_len(_header(table, view, n)), *(cell_len(r[n]) for r in rows)])
            for n in names
        }
        text = {n for n in names if _is_text(table, n)}
        fixed = sum(w for n, w in naturals.items() if n not in text) + 3 * (len(names) - 1)
        least = fixed + sum(
            min(naturals[n], WIDE_MIN if n in view.wide else TEXT_MIN) for n in text
        )
        droppable = [n for n in reversed(view.optional) if n in names]
        if least <= width or not droppable:
            break
        names.remove(droppable[0])
    widths = _text_widths(
        {n: w for n, w in naturals.items() if n in text},
        fixed,
        [n for n in view.wide if n in text],
        width,
    )
    return names, {n: widths.get(n, naturals[n]) for n in names}


def render_table(
    table: pa.Table,
    view: View | None = None,
    *,
    title: str | None = None,
    console: Console | None = None,
) -> None:
    """Print ``table`` as a rich table that fits the terminal, one line per row."""
    console = console or Console()
    view = view or View(columns=tuple(table.column_names))
    shown = [c for c in view.columns if c in table.column_names]
    rows = [{n: _cell(row[n]) for n in shown} for row in table.select(shown).to_pylist()]
    names, widths = _layout(table, view, rows, console.width)
    out = Table(
        title=title,
        title_justify="left",
        title_style="bold",
        header_style="bold",
        box=TABLE_BOX,
        show_edge=False,
        pad_edge=False,
    )
    for name in names:
        out.add_column(
            _header(table, view, name),
            no_wrap=True,
            overflow="ellipsis",
            width=widths[name],
            justify="right" if pa.types.is_integer(table.schema.field(name).type) else "left",
        )
    for row in rows:
        out.add_row(*(plain(row[n]) for n in names))
    console.print(out)
    if table.num_rows == 0:
        console.print("[dim]no rows[/dim]")


def emit(data: pa.Table | pa.RecordBatchReader, fmt: str, view: View | None = None) -> int:
    """Write ``data`` to stdout in ``fmt``; ``view`` shapes the terminal table only.

    JSON Lines and CSV are written batch by batch as a reader yields them, so an export
    of any size holds one batch at a time. Returns the number of rows written.
    """
    if fmt == OutputFormat.TABLE:
        table = data if isinstance(data, pa.Table) else data.read_all()
        render_table(table, view)
        return table.num_rows
    out = sys.stdout.buffer
    if fmt == OutputFormat.JSONL:
        rows = write_jsonl(data, out)
    else:
        rows = write_csv(data, out, safe=_csv_safe())
    out.flush()
    return rows


#: Rows a table shows when no ``--limit`` is given: a screenful, not the whole warehouse.
TABLE_PAGE = 50


def page_note(*, shown: int, offset: int, total: int, console: Console | None = None) -> None:
    """Under a table that shows one page: which rows these are, how many more there are
    and how to see them."""
    more = total - offset - shown
    if more <= 0:
        return
    console = console or Console()
    first = offset + 1 if shown else offset
    console.print(
        f"[dim]rows {first:,}–{offset + shown:,} of {total:,}; {more:,} more: "
        f"--offset {offset + shown} for the next page, --limit N for a longer one, "
        "--format jsonl or csv for all of them[/dim]",
        soft_wrap=True,
    )
