"""The largest single value a dump may hold, checked on every batch a reader yields.

Telegram caps a message at 4,096 characters and a caption at 1,024 (4,096 with
premium). :data:`MAX_VALUE_BYTES`, 16 MiB of UTF-8 in one cell (a text, a name; the
JSON of the entities or of ``extra`` may hold twice as much), is thousands of times
what a real export holds, yet small enough that DuckDB stores such a value within its
default 128 MB memory limit: a 50 MB text (with its entities, 100 MB) fails at COMMIT,
where DuckDB pins the blocks of large values in memory. A larger value is refused with
the file and the place of its record.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from tg_pipeline.errors import DumpError
from tg_pipeline.records import JSON_FIELDS

MAX_VALUE_BYTES = 16 << 20
#: A JSON column repeats a text (``entities`` holds it piece by piece) with escaping that
#: can double it, so it may hold twice the limit and a little more.
MAX_JSON_BYTES = 2 * MAX_VALUE_BYTES + (64 << 10)


def check_value_sizes(
    batch: pa.RecordBatch, *, file: str | None = None, where: str | None = None
) -> None:
    """Raise DumpError naming the first record in ``batch`` with a value over the limit.

    The record names its own file and place, unless ``file`` (a backup, say) is given:
    then the error names that file, ``where`` in it and the record's message id.
    """
    for index, field in enumerate(batch.schema):
        if not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
            continue
        limit = MAX_JSON_BYTES if field.name in JSON_FIELDS else MAX_VALUE_BYTES
        lengths = pc.binary_length(batch.column(index))
        longest = pc.max(lengths).as_py()
        if longest is None or longest <= limit:
            continue
        row = pc.index(pc.greater(lengths, limit), True).as_py()
        record = batch.slice(row, 1).to_pylist()[0]
        position = record.get("source_position")
        if file is not None:
            position = f"{where}, message {record.get('message_id')}"
        raise DumpError(
            f"the {field.name} value is {longest / (1 << 20):.1f} MiB; one value may hold "
            f"at most {limit / (1 << 20):.0f} MiB",
            file=file or record.get("source_file"),
            position=position,
        )
