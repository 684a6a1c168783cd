"""Arrow record batches joined and cut into batches of exactly the size a caller asked for.

Imports pyarrow only.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa


class Regroup:
    """Joins the builder's parts into batches of exactly the requested size (the last one
    may be smaller)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.parts: list[pa.RecordBatch] = []
        self.rows = 0

    def add_one(self, part: pa.RecordBatch) -> None:
        self.parts.append(part)
        self.rows += part.num_rows

    def add(self, parts: list[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for part in parts:
            self.parts.append(part)
            self.rows += part.num_rows
        parts.clear()
        while self.rows >= self.size:
            yield self._take(self.size)

    def rest(self) -> Iterator[pa.RecordBatch]:
        if self.rows:
            yield self._take(self.rows)

    def _take(self, count: int) -> pa.RecordBatch:
        if len(self.parts) == 1 and self.rows == count:
            self.rows = 0
            return self.parts.pop()
        table = pa.Table.from_batches(self.parts)
        rest = table.slice(count)
        self.parts = [part for part in rest.to_batches() if part.num_rows]
        self.rows = rest.num_rows
        return table.slice(0, count).combine_chunks().to_batches()[0]
