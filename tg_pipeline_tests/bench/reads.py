"""Reads at a user's scale: ``tg-pipeline messages``, ``counts`` and ``chats`` exports.

The warehouse holds the synthetic export three times over, as three chats (the export
ingested once, its rows copied to two more chat ids), the third copy with a sender of its
own for every message, so ``counts`` has about as many rows as there are messages. Each
export is ``tg-pipeline … --format jsonl|csv`` run in a fresh process with the default
settings (DuckDB's memory limit included), its output written to a file.

Goal: peak RSS < 400 MB for every export.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tg_pipeline_tests.bench import BenchContext, Measurement
from tg_pipeline_tests.bench.exports import ensure_export
from tg_pipeline_tests.bench.harness import emit, run_child

DESCRIPTION = "reads: messages/counts/chats exported as jsonl and csv from 3 chats"

SECTION = "reads"
RSS_LIMIT_MB = 400
#: The export ingested once, then copied into this many chats in all.
COPIES = 3
EXPORTS = (
    ("messages", "jsonl"),
    ("messages", "csv"),
    ("counts", "jsonl"),
    ("counts", "csv"),
    ("chats", "csv"),
)


def run(ctx: BenchContext) -> list[Measurement]:
    export = ensure_export(ctx.out, ctx.messages)
    work = ctx.out / "reads"
    shutil.rmtree(work, ignore_errors=True)
    data = work / "data"
    built = run_child(__name__, ["--child", "build", str(data), str(export.json)])
    results = [
        Measurement(
            SECTION,
            f"build: ingest, copy to {COPIES} chats",
            int(built.report["rows"]),
            float(built.report["seconds"]),
            built.peak_rss_mb,
            notes=[f"{built.report['counts']:,} per-sender count rows"],
        )
    ]
    for command, fmt in EXPORTS:
        out = work / f"{command}.{fmt}"
        child = run_child(__name__, ["--child", "export", str(data), command, fmt, str(out)])
        results.append(
            Measurement(
                SECTION,
                f"{command} --format {fmt}",
                int(child.report["rows"]),
                float(child.report["seconds"]),
                child.peak_rss_mb,
                goal=f"< {RSS_LIMIT_MB} MB",
                met=child.peak_rss_mb < RSS_LIMIT_MB,
                notes=[f"{child.report['bytes'] / 1e6:,.0f} MB written"],
            )
        )
        out.unlink(missing_ok=True)
    return results


# -- child side ------------------------------------------------------------------------


def build(data_dir: Path, export: Path, copies: int = COPIES) -> dict[str, Any]:
    """Ingest ``export`` into ``data_dir``'s warehouse, then copy its chat ``copies - 1``
    times under new chat ids; the last copy gets one sender per message."""
    from tg_pipeline_tests.bench.pipeline import _drop

    started = time.perf_counter()
    _drop(data_dir, export, by_path=True)
    from tg_pipeline.ingest import DataPaths
    from tg_pipeline.warehouse import Warehouse

    with Warehouse.open(DataPaths.under(data_dir).warehouse) as warehouse:
        con = warehouse.con
        (chat_id, name), *_ = con.execute("SELECT chat_id, name FROM chats").fetchall()
        for copy in range(1, copies):
            new_id = chat_id + copy
            own_senders = copy == copies - 1
            sender = "'bench' || message_id::VARCHAR" if own_senders else "sender_id"
            con.execute(
                f"""
                INSERT INTO messages SELECT * REPLACE (
                    ? AS chat_id, chat_name || ? AS chat_name,
                    {sender} AS sender_id,
                    {"'bench' || message_id::VARCHAR" if own_senders else "sender_key"}
                        AS sender_key)
                FROM messages WHERE chat_id = ?
                """,
                [new_id, f" #{copy + 1}", chat_id],
            )
            con.execute(
                "INSERT INTO chats SELECT * REPLACE (? AS chat_id, name || ? AS name) "
                "FROM chats WHERE chat_id = ?",
                [new_id, f" #{copy + 1}", chat_id],
            )
            con.execute(
                "INSERT INTO chat_dumps SELECT ?, dump_id FROM chat_dumps WHERE chat_id = ?",
                [new_id, chat_id],
            )
        warehouse.refresh_counts()
        rows = warehouse.row_counts()
    return {
        "rows": rows["messages"],
        "counts": rows["user_message_counts"],
        "seconds": time.perf_counter() - started,
        "chat": name,
    }


def export_to(data_dir: Path, command: str, fmt: str, out: Path) -> dict[str, Any]:
    """``tg-pipeline --data-dir D COMMAND --format FMT > OUT`` in this process, timed
    from the call: the command's modules and the DuckDB warehouse are imported before,
    so the figure is the read's own, not the interpreter's imports."""
    import importlib

    import tg_pipeline.warehouse.connection  # noqa: F401
    from tg_pipeline.cli.main import COMMANDS, main

    importlib.import_module(COMMANDS[command].split(":")[0])
    started = time.perf_counter()
    saved = os.dup(1)
    try:
        with out.open("wb") as sink:
            os.dup2(sink.fileno(), 1)
            with contextlib.suppress(SystemExit):
                main(
                    ["--data-dir", str(data_dir), command, "--format", fmt],
                    prog_name="tg-pipeline",
                    standalone_mode=False,
                )
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    seconds = time.perf_counter() - started
    from tg_pipeline.ingest import DataPaths
    from tg_pipeline.warehouse import Warehouse

    with Warehouse.open(DataPaths.under(data_dir).warehouse, read_only=True) as warehouse:
        rows = warehouse.row_counts()[_TABLES[command]]
    return {"rows": rows, "seconds": seconds, "bytes": out.stat().st_size}


#: The table each exporting command reads, for the row count of a measurement.
_TABLES = {"messages": "messages", "counts": "user_message_counts", "chats": "chats"}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="one read measurement (internal)")
    parser.add_argument("--child", choices=("build", "export"), required=True)
    parser.add_argument("args", nargs="+")
    ns = parser.parse_args(argv)
    a = ns.args
    if ns.child == "build":
        report = build(Path(a[0]), Path(a[1]))
    else:
        report = export_to(Path(a[0]), a[1], a[2], Path(a[3]))
    emit(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
