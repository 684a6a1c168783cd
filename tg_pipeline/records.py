"""The one normalized record that every reader yields and the warehouse stores.

HTML pages, ``result.json`` files and tg_pipeline backups all end up as Arrow record batches
with :data:`MESSAGE_SCHEMA`, so there is exactly one upsert path. Readers hand rows to a
:class:`BatchBuilder` as plain dicts; it builds columns directly, which is several times
faster than ``RecordBatch.from_pylist`` on Telegram-sized rows.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

import orjson
import pyarrow as pa
import pyarrow.compute as pc

SCHEMA_VERSION = 1

#: Where a record's instant came from: the export's unixtime, the HTML title's offset, the
#: configured zone for exports that carry neither (before 2022), or, for HTML service
#: entries that carry no time at all, the neighbouring message's instant.
TIME_SOURCES = ("unixtime", "html_offset", "assumed", "inferred")

KINDS = ("message", "service")

UTC_US = pa.timestamp("us", tz="UTC")

MESSAGE_SCHEMA = pa.schema(
    [
        pa.field("chat_id", pa.int64()),
        pa.field("chat_name", pa.string()),
        pa.field("chat_type", pa.string()),
        pa.field("message_id", pa.int64(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("sent_at", UTC_US, nullable=False),
        pa.field("edited_at", UTC_US),
        pa.field("time_source", pa.string(), nullable=False),
        pa.field("sender_id", pa.string()),
        pa.field("sender_name", pa.string()),
        pa.field("text", pa.string(), nullable=False),
        pa.field("entities", pa.string(), nullable=False),
        pa.field("reply_to_message_id", pa.int64()),
        pa.field("forwarded_from", pa.string()),
        pa.field("via_bot", pa.string()),
        pa.field("author", pa.string()),
        pa.field("media_type", pa.string()),
        pa.field("media_path", pa.string()),
        pa.field("action", pa.string()),
        pa.field("actor", pa.string()),
        pa.field("reactions", pa.string()),
        pa.field("extra", pa.string(), nullable=False),
        pa.field("source_file", pa.string()),
        pa.field("source_position", pa.string()),
    ],
    metadata={b"tg_pipeline.schema_version": str(SCHEMA_VERSION).encode()},
)

FIELD_NAMES: tuple[str, ...] = tuple(MESSAGE_SCHEMA.names)
_ROW_VALUES = operator.itemgetter(*FIELD_NAMES)
_FIELD_COUNT = len(FIELD_NAMES)

#: Columns stored as JSON text: they round-trip exactly through Parquet, CSV and DuckDB.
JSON_FIELDS = frozenset({"entities", "reactions", "extra"})
TIME_FIELDS = frozenset({"sent_at", "edited_at"})

DEFAULT_BATCH_SIZE = 20_000


_dumps = orjson.dumps


def dumps_json(value: Any) -> str:
    """Compact, key-order-preserving JSON; the same value always gives the same text."""
    return orjson.dumps(value).decode()


class BatchBuilder:
    """Collects row dicts column by column and cuts them into record batches.

    A row gives ``sent_at``/``edited_at`` as integer epoch seconds (UTC), and ``entities``,
    ``reactions`` and ``extra`` as Python lists/dicts; missing keys are null. ``entities``
    defaults to ``[]`` and ``extra`` to ``{}``.
    """

    def __init__(self, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        self.batch_size = batch_size
        self._reset()

    def _reset(self) -> None:
        self._values: list[Sequence[Any]] = []
        self._rows = 0

    def __len__(self) -> int:
        return self._rows

    def append(self, row: dict[str, Any]) -> pa.RecordBatch | None:
        """Add one row; return a full batch when one is ready, else None."""
        # A row without every field (an HTML reader's) skips the failing lookup and its
        # exception: the missing values are None either way.
        if len(row) < _FIELD_COUNT:
            values = tuple(map(row.get, FIELD_NAMES))
        else:
            try:
                values = _ROW_VALUES(row)
            except KeyError:
                values = tuple(map(row.get, FIELD_NAMES))
        self._values.append(values)
        self._rows += 1
        if self._rows >= self.batch_size:
            return self.flush()
        return None

    def append_values(self, values: Sequence[Any]) -> pa.RecordBatch | None:
        """Add one row given as its values in :data:`FIELD_NAMES` order.

        The fast path for a reader's hot loop: no dict is built and none is looked up.
        """
        self._values.append(values)
        self._rows += 1
        if self._rows >= self.batch_size:
            return self.flush()
        return None

    def flush(self) -> pa.RecordBatch | None:
        """Return what is collected as a batch (None when empty) and start over."""
        if not self._rows:
            return None
        # One C-level transpose of the collected rows instead of 24 appends per row.
        cols = dict(zip(FIELD_NAMES, zip(*self._values, strict=True), strict=True))
        arrays: list[pa.Array] = []
        for field in MESSAGE_SCHEMA:
            values = cols[field.name]
            if field.name in TIME_FIELDS:
                seconds = pa.array(values, type=pa.int64())
                arrays.append(pc.multiply(seconds, 1_000_000).cast(UTC_US))
            elif field.name in JSON_FIELDS:
                # orjson's UTF-8 goes to Arrow as bytes: decoding it to str only for Arrow
                # to encode it again costs more than serializing it did.
                encoded: list[bytes | None]
                if field.name == "entities":
                    encoded = [_dumps(v or []) for v in values]
                elif field.name == "extra":
                    encoded = [_dumps(v or {}) for v in values]
                else:
                    encoded = [None if v is None else _dumps(v) for v in values]
                # orjson writes only valid UTF-8, so the bytes are viewed as strings
                # without the cast's validation pass.
                arrays.append(pa.array(encoded, pa.binary()).view(pa.string()))
            else:
                arrays.append(pa.array(values, type=field.type))
        batch = pa.RecordBatch.from_arrays(arrays, schema=MESSAGE_SCHEMA)
        self._reset()
        return batch

    def extend(self, rows: Iterable[dict[str, Any]]) -> Iterator[pa.RecordBatch]:
        """Feed many rows, yielding each batch as it fills, then the remainder."""
        for row in rows:
            batch = self.append(row)
            if batch is not None:
                yield batch
        tail = self.flush()
        if tail is not None:
            yield tail


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """How readers interpret a dump.

    ``default_zone`` is the IANA zone for exports whose times carry no offset (before 2022).
    ``chat_id`` lets a user name the chat an HTML dump belongs to; HTML carries no chat id.
    """

    default_zone: str = "UTC"
    batch_size: int = DEFAULT_BATCH_SIZE
    workers: int | None = None
    chat_id: int | None = None


@dataclass(frozen=True, slots=True)
class BackupScan:
    """A backup file DuckDB can insert from itself, Parquet or CSV alike.

    A record source offering one (:class:`ScannableRecords`, see ``readers.backup``) lets the
    upsert insert the whole file with one SQL statement across threads instead of in
    rounds of Arrow batches, which is most of a restore's cost.

    ``relation`` is what the statement reads, with exactly the columns and types of
    :data:`MESSAGE_SCHEMA`: SQL for its FROM clause (a table function over the file), or
    the file's records as an Arrow stream, read once. ``rows`` is the count the file
    promises (footer or manifest), None when nothing promises one. Every key lies between
    ``first_key`` and ``last_key`` in ``(chat_id, message_id)`` order, and every message id
    within ``message_ids`` when known, so the upsert can tell without reading the file
    whether a stored row could share a key with it. These are the file's word, not proof:
    the upsert checks the inserted rows against them and reads batches instead when they
    do not hold.
    """

    relation: str | pa.RecordBatchReader
    rows: int | None
    first_key: tuple[int, int]
    last_key: tuple[int, int]
    message_ids: tuple[int, int] | None = None


@runtime_checkable
class ScannableRecords(Protocol):
    """A record source that may offer the warehouse a direct scan of its file.

    ``direct_scan()`` is asked before any batch is read; None means "read my batches".
    """

    def direct_scan(self) -> BackupScan | None: ...


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat()


def batch_to_dicts(batch: pa.RecordBatch) -> Iterator[dict[str, Any]]:
    """Rows as plain dicts with JSON columns parsed and instants as ISO-8601 with offset."""
    for row in batch.to_pylist():
        for name in JSON_FIELDS:
            if row[name] is not None:
                row[name] = orjson.loads(row[name])
        for name in TIME_FIELDS:
            row[name] = _iso(row[name])
        yield row


def to_jsonl(batch: pa.RecordBatch) -> Iterator[bytes]:
    """One JSON Lines row per record: the stable contract of ``tg-pipeline parse``."""
    for row in batch_to_dicts(batch):
        yield orjson.dumps(row) + b"\n"
