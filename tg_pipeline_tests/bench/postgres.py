"""The PostgreSQL warehouse beside DuckDB's (``pipeline``): ingest, unchanged re-ingest,
Parquet and CSV backups, restore, on the same synthetic export.

Each step runs in a fresh process against one fresh database on the local server
(``TG_BENCH_PG_ADMIN``, default ``postgresql://postgres@127.0.0.1:5432/test``, is where it
is created and dropped), timed from opening the warehouse to closing it:

- ingest of ``result.json`` into the empty warehouse (JSON reader, rounds of new rows
  COPYed into ``messages``, commit);
- re-ingest of the unchanged dump through the reader and the upsert (recognition off), and
  from the Parquet backup, whose reader is nearly free: what the upsert costs when nothing
  changed;
- Parquet and CSV backups;
- restore of the Parquet backup into an empty warehouse.

Goal (issue 20): ingest ≥ 50k msg/s.
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tg_pipeline_tests.bench import BenchContext, Measurement
from tg_pipeline_tests.bench.exports import ensure_export
from tg_pipeline_tests.bench.harness import ChildRun, emit, run_child
from tg_pipeline_tests.bench.pipeline import backup_timed, ingest_timed

DESCRIPTION = "PostgreSQL warehouse: ingest, unchanged re-ingest, backups, restore"
SECTION = "postgres"
INGEST_RATE = 50_000
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


@contextmanager
def _fresh_database(admin_url: str) -> Iterator[str | None]:
    """A new database's URL, dropped afterwards; ``None`` when no server answers."""
    from tg_pipeline.errors import TgPipelineError
    from tg_pipeline.warehouse.pg.session import PgSession

    try:
        admin = PgSession(admin_url, autocommit=True)
    except TgPipelineError:
        yield None
        return
    name = f"tg_bench_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ?", [name]
        ).fetchall()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


def _child(*args: str) -> ChildRun:
    return run_child(__name__, ["--child", *args])


def run(ctx: BenchContext, admin_url: str = ADMIN_URL) -> list[Measurement]:
    export = ensure_export(ctx.out, ctx.messages)
    work = ctx.out / "postgres"
    work.mkdir(parents=True, exist_ok=True)
    results: list[Measurement] = []

    def add(name: str, child: ChildRun, goal: str = "", met: bool | None = None) -> None:
        report = child.report
        results.append(
            Measurement(
                SECTION,
                name,
                int(report["rows"]),
                float(report["seconds"]),
                child.peak_rss_mb,
                goal=goal,
                met=met,
                notes=[_counts(report)] if "new" in report else [],
            )
        )

    with _fresh_database(admin_url) as url, _fresh_database(admin_url) as restored:
        if url is None or restored is None:
            print(f"no PostgreSQL at {admin_url}: section skipped")
            return []
        first = _child("ingest", url, str(export.json), "bench-json")
        rate = first.report["rows"] / first.report["seconds"]
        add(
            "ingest result.json into empty",
            first,
            f"≥ {INGEST_RATE // 1000}k msg/s",
            rate >= INGEST_RATE,
        )
        add("re-ingest unchanged, via JSON reader", _child("reingest", url, str(export.json)))
        backups = {
            fmt: _child("backup", url, str(work / "backups"), fmt) for fmt in ("parquet", "csv")
        }
        for fmt, child in backups.items():
            add(f"backup {fmt}", child)
        parquet = str(backups["parquet"].report["path"])
        add("re-ingest unchanged, from Parquet backup", _child("restore", url, parquet))
        add("restore parquet into empty warehouse", _child("restore", restored, parquet))
    return results


def _counts(report: dict[str, Any]) -> str:
    return (
        f"new {report['new']:,}, updated {report['updated']:,}, unchanged {report['unchanged']:,}"
    )


# -- child side ------------------------------------------------------------------------


def _ingest(
    url: str, source: Path, dump_id: str, *, backup: bool, recognise: bool
) -> dict[str, Any]:
    from tg_pipeline.warehouse.pg import PgWarehouse

    return ingest_timed(
        lambda: PgWarehouse.open(url), source, dump_id, backup=backup, recognise=recognise
    )


def _backup(url: str, dest: Path, fmt: str) -> dict[str, Any]:
    from tg_pipeline.warehouse.pg import PgWarehouse

    return backup_timed(lambda: PgWarehouse.open(url), dest, fmt)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="one PostgreSQL measurement (internal)")
    parser.add_argument(
        "--child", choices=("ingest", "reingest", "backup", "restore"), required=True
    )
    parser.add_argument("args", nargs="+")
    ns = parser.parse_args(argv)
    a = ns.args
    if ns.child == "ingest":
        report = _ingest(a[0], Path(a[1]), a[2], backup=False, recognise=True)
    elif ns.child == "reingest":
        report = _ingest(a[0], Path(a[1]), "bench-json-again", backup=False, recognise=False)
    elif ns.child == "restore":
        report = _ingest(a[0], Path(a[1]), "bench-restore", backup=True, recognise=False)
    else:
        report = _backup(a[0], Path(a[1]), a[2])
    emit(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
