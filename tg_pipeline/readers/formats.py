"""The kinds of dump and the content formats, and what a file's name says about its format.

Imports nothing beyond the standard library, so every part of detection can share it.
"""

from __future__ import annotations

from enum import Enum, StrEnum

NOT_A_DUMP = "not a Telegram export or tg_pipeline backup"

#: The sidecar that ``tg_pipeline.warehouse.backup`` writes next to each backup file.
MANIFEST_SUFFIX = ".manifest.json"


class DumpKind(StrEnum):
    TELEGRAM_JSON = "telegram_json"
    TELEGRAM_HTML = "telegram_html"
    BACKUP_PARQUET = "backup_parquet"
    BACKUP_CSV = "backup_csv"


class Format(Enum):
    """The content format of one file; it decides the sniff and the dump kind."""

    JSON = "json"
    HTML = "html"
    PARQUET = "parquet"
    CSV = "csv"
    CSV_GZ = "csv.gz"

    @property
    def kind(self) -> DumpKind:
        return _KIND_OF[self]


_KIND_OF = {
    Format.JSON: DumpKind.TELEGRAM_JSON,
    Format.HTML: DumpKind.TELEGRAM_HTML,
    Format.PARQUET: DumpKind.BACKUP_PARQUET,
    Format.CSV: DumpKind.BACKUP_CSV,
    Format.CSV_GZ: DumpKind.BACKUP_CSV,
}
#: Formats whose files must be valid UTF-8 throughout.
TEXT_FORMATS = frozenset({Format.JSON, Format.HTML})


def format_of_name(name: str) -> Format | None:
    low = name.lower()
    if low.endswith(".csv.gz"):
        return Format.CSV_GZ
    suffix = low.rsplit(".", 1)[-1] if "." in low else ""
    return {
        "json": Format.JSON,
        "html": Format.HTML,
        "htm": Format.HTML,
        "parquet": Format.PARQUET,
        "csv": Format.CSV,
    }.get(suffix)


def is_zip_name(name: str) -> bool:
    return name.lower().endswith(".zip")
