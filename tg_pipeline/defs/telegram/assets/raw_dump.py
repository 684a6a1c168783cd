"""``raw_dump``: one partition per dropped dump, kept as an immutable copy of its text files."""

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
from pydantic import Field

from tg_pipeline.defs.names import OWNERS, TELEGRAM_GROUP
from tg_pipeline.defs.shared.context import run_context
from tg_pipeline.defs.shared.settings import PipelineSettings
from tg_pipeline.defs.telegram.assets.metadata import raw_dump_metadata
from tg_pipeline.defs.telegram.assets.quarantine import quarantine_event
from tg_pipeline.defs.telegram.partitions import dumps_partitions
from tg_pipeline.errors import DumpError
from tg_pipeline.ingest import (
    DataPaths,
    DumpNotFound,
    StagedDump,
    load_staged,
    locate_dump,
    stage_or_quarantine,
)


class RawDumpConfig(dg.Config):
    """Where the dump is. The sensor, the CLI and the inbox job fill it in; left empty, the
    partition's raw copy or its inbox entry is found from the partition key."""

    source: str = Field(
        default="",
        description="Path of the dropped folder, file or .zip. Empty: use the partition's "
        "raw copy, or find the inbox entry with the partition's content.",
    )


@dg.asset(
    partitions_def=dumps_partitions,
    group_name=TELEGRAM_GROUP,
    kinds={"telegram", "file"},
    owners=OWNERS,
    description=(
        "One dropped Telegram Desktop export or tg_pipeline backup: its kind, files, sizes "
        "and content fingerprint. The text files (never media) are copied unchanged to "
        "`data/raw/<dump>/files/` with a `manifest.json` (sizes, sha256, kind, fingerprint, "
        "source), so the dump can be read again after the inbox entry has moved on. "
        "A dump that cannot be recognised is moved to `data/quarantine/` with an "
        "`.error.txt` report and recorded by the `quarantine` asset; this one then ends "
        "without a materialization (and without failing), and the steps after it are skipped."
    ),
    output_required=False,
)
def raw_dump(
    context: dg.AssetExecutionContext, config: RawDumpConfig, settings: PipelineSettings
) -> Iterator[dg.MaterializeResult]:
    paths = settings.paths().ensure()
    dump_id = context.partition_key
    staged = _stage(context, paths, dump_id, config.source)
    if staged is None:
        return
    context.log.info(
        f"dump {dump_id}: {staged.kind}, {len(staged.files)} file(s), "
        f"{staged.total_bytes} bytes, raw copy at {staged.directory}"
    )
    for note in staged.notes:
        context.log.warning(f"dump {dump_id}: {note}")
    yield dg.MaterializeResult(metadata=raw_dump_metadata(staged))


def _stage(
    context: dg.AssetExecutionContext, paths: DataPaths, dump_id: str, source: str
) -> StagedDump | None:
    """The dump's raw copy; None when the dump went to quarantine (recorded there)."""
    existing = load_staged(paths, dump_id)
    if existing is not None:
        context.log.info(f"dump {dump_id} was staged before; keeping its raw copy")
        return existing
    try:
        entry = Path(source) if source else locate_dump(paths, dump_id)
    except DumpNotFound as err:
        raise dg.Failure(description=str(err)) from err
    if not entry.exists():
        raise dg.Failure(description=f"dump {dump_id}: {entry} does not exist")
    try:
        staged = stage_or_quarantine(entry, paths, run=run_context(context, paths))
    except DumpError as err:
        context.log.error(f"dump {dump_id} quarantined: {err}")
        context.log_event(
            quarantine_event(dump_id, entry, err, stage="detect", quarantine_dir=paths.quarantine)
        )
        return None
    if staged.dump_id != dump_id:
        raise dg.Failure(
            description=(
                f"{entry} now holds different content (dump {staged.dump_id}) than partition "
                f"{dump_id} was created for; the sensor will pick the new content up as a "
                "new dump"
            )
        )
    return staged
