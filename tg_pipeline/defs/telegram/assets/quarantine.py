"""``quarantine``: the dumps that could not be read, each with its reason, in one place.

A dump that cannot be read is moved to ``data/quarantine/`` with an ``.error.txt`` report.
That is about the dump, not about the pipeline: the warehouse is untouched and every
other dump still loads. So the telegram assets do not fail for it (their steps end without
materializing, and the ones downstream are skipped); instead each quarantine is recorded as
a materialization of this asset, by the run or by the inbox sensor that found it, with the
dump, the reason, the file and place, and the report. Its history in the UI is the list of
quarantined dumps; a later good dump adds nothing here and removes nothing.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from tg_pipeline.defs.names import QUARANTINE, QUARANTINE_GROUP, Meta
from tg_pipeline.errors import DumpError

QUARANTINE_KEY = dg.AssetKey(QUARANTINE)

quarantine = dg.AssetSpec(
    QUARANTINE_KEY,
    group_name=QUARANTINE_GROUP,
    kinds={"file"},
    description=(
        "Dumps that could not be read, one materialization each: which dump, the reason, "
        "the file and place of the problem, where the entry went (`data/quarantine/`) and "
        "its `.error.txt` report. Recorded by the ingest run or by the inbox sensor; the "
        "telegram assets are left as they were, neither failed nor changed. To retry, fix "
        "the entry and drop it into the inbox again."
    ),
)


def quarantine_event(
    dump_id: str | None,
    entry: Path | str,
    error: DumpError | BaseException,
    *,
    stage: str,
    quarantine_dir: Path | None = None,
) -> dg.AssetMaterialization:
    """The materialization that records one quarantined dump."""
    metadata: dict[str, object] = {
        "dump_id": dump_id or "(not detected)",
        "entry": str(entry),
        "stage": stage,
        Meta.REASON: str(error),
    }
    if isinstance(error, DumpError):
        metadata["error_file"] = error.file or ""
        metadata[Meta.ERROR_POSITION] = error.position or ""
    if quarantine_dir is not None:
        metadata["quarantine_dir"] = dg.MetadataValue.path(str(quarantine_dir))
    return dg.AssetMaterialization(
        asset_key=QUARANTINE_KEY,
        description=f"{Path(str(entry)).name}: {error}",
        metadata=metadata,  # type: ignore[arg-type]
    )


QUARANTINE_ASSETS = [quarantine]
