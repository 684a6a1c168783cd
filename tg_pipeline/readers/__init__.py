"""Every kind of dump in, one normalized record stream out: detection, the readers, backups.

Imports only ``tg_pipeline.errors`` and ``tg_pipeline.records`` from the project: no Dagster,
no warehouse.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tg_pipeline.errors import DumpError
    from tg_pipeline.readers.detect import Dump, copy_dump, fingerprint_dump, open_dump
    from tg_pipeline.readers.formats import DumpKind
    from tg_pipeline.readers.read import read_dump
    from tg_pipeline.readers.safezip import ZipLimits
    from tg_pipeline.readers.selection import page_number
    from tg_pipeline.records import ReadOptions

#: Each exported name and the module that defines it, loaded on first use: the zip limits
#: (read by the settings) need none of the parsers or Arrow.
_EXPORTS = {
    "Dump": "tg_pipeline.readers.detect",
    "DumpError": "tg_pipeline.errors",
    "DumpKind": "tg_pipeline.readers.formats",
    "ReadOptions": "tg_pipeline.records",
    "ZipLimits": "tg_pipeline.readers.safezip",
    "copy_dump": "tg_pipeline.readers.detect",
    "fingerprint_dump": "tg_pipeline.readers.detect",
    "open_dump": "tg_pipeline.readers.detect",
    "page_number": "tg_pipeline.readers.selection",
    "read_dump": "tg_pipeline.readers.read",
}

__all__ = [
    "Dump",
    "DumpError",
    "DumpKind",
    "ReadOptions",
    "ZipLimits",
    "copy_dump",
    "fingerprint_dump",
    "open_dump",
    "page_number",
    "read_dump",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
