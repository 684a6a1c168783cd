"""The project's readers beside other tools on the same export, in the same run.

Peers (issue 21), each in its own environment (:mod:`.peer_env`), never a project
dependency: chatpack's Rust ``TelegramStreamParser`` and a plain ``ijson.items`` loop on
``result.json``; a selectolax (lexbor) loop and BeautifulSoup loops (lxml, html.parser)
on the HTML pages. Each runs as a fresh process measured exactly as the project's readers
are (:func:`.harness.run_command`), interleaved with them: our JSON reader on all cores
and on one, the JSON peers, then the same for HTML. Every line says which fields the tool reads and
its msg/s and peak memory as a ratio to ours.

msg/s counts every record of the export that the tool walked: chatpack skips service
entries and messages without text but still parses them, so its rate counts the
export's records. BeautifulSoup is two orders of magnitude slower, so it reads only the
first ``SOUP_PAGES`` pages and counts their messages.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tg_pipeline_tests.bench import BenchContext, Measurement
from tg_pipeline_tests.bench import readers as our_readers
from tg_pipeline_tests.bench.exports import ensure_export
from tg_pipeline_tests.bench.harness import ChildFailed, ChildRun, run_child, run_command
from tg_pipeline_tests.bench.peer_env import ensure_peer_env

DESCRIPTION = "peers (chatpack, ijson, selectolax, BeautifulSoup) beside our readers"

SECTION = "peers"
SOUP_PAGES = 20
LOOPS = Path(__file__).with_name("peer_loops.py")
JSON_PEERS = ("chatpack", "ijson")
HTML_PEERS = ("selectolax", "bs4-lxml", "bs4-html.parser")
#: What our readers read, for the same "reads" note the peers get.
OUR_FIELDS = "every field of the record schema (the warehouse's rows)"


def _ours(kind: str, path: Path, cpus: int) -> Measurement:
    child = run_child(our_readers.__name__, ["--child", kind, str(path), "--workers", str(cpus)])
    rows = int(child.report["rows"])
    return Measurement(
        SECTION,
        f"tg_pipeline {kind} reader ({cpus} {'core' if cpus == 1 else 'cores'})",
        rows,
        float(child.report["seconds"]),
        child.peak_rss_mb,
        notes=[f"reads {OUR_FIELDS}"],
        cpu_seconds=child.cpu_seconds,
    )


def _peer(
    python: Path, peer: str, path: Path, ours: Measurement, export_records: int | None
) -> Measurement:
    limit = SOUP_PAGES if peer.startswith("bs4") else 0
    child: ChildRun = run_command([str(python), str(LOOPS), peer, str(path), str(limit)])
    report = child.report
    yielded = int(report["rows"])
    seconds = float(report["seconds"])
    items = export_records if export_records is not None else yielded
    rate = items / seconds if seconds > 0 else 0.0
    notes = [f"reads {report['fields']}"]
    if ours.rate > 0 and ours.peak_rss_mb:
        notes.append(
            f"{rate / ours.rate:.2f}x our {ours.name}'s msg/s, "
            f"{child.peak_rss_mb / ours.peak_rss_mb:.2f}x its peak memory"
        )
    if export_records is not None and yielded != export_records:
        notes.append(f"yielded {yielded:,} of the export's {export_records:,} records")
    if report.get("note"):
        notes.append(str(report["note"]))
    return Measurement(
        SECTION,
        f"{peer} {report['version']} (1 core)",
        items,
        seconds,
        child.peak_rss_mb,
        goal="ours ahead",
        met=ours.rate >= rate,
        notes=notes,
        cpu_seconds=child.cpu_seconds,
    )


def run(ctx: BenchContext) -> list[Measurement]:
    export = ensure_export(ctx.out, ctx.messages)
    env = ensure_peer_env(ctx.out)
    if env.python is None or not env.runnable:
        print(
            "peers: could not install the peers' environment ("
            + "; ".join(env.problems)
            + "); peers not measured",
            file=sys.stderr,
            flush=True,
        )
    else:
        for peer in (*JSON_PEERS, *HTML_PEERS):
            if peer not in env.runnable:
                print(
                    f"peers: {peer} not measured: it did not install ("
                    + "; ".join(env.problems)
                    + ")",
                    file=sys.stderr,
                    flush=True,
                )
    results: list[Measurement] = []
    for kind, path, peers in (
        ("json", export.json, JSON_PEERS),
        ("html", export.html, HTML_PEERS),
    ):
        ours = _ours(kind, path, ctx.cpus)
        results.append(ours)
        if ctx.cpus > 1:
            # The peers run on one core: our reader on one core too, for that comparison.
            results.append(_ours(kind, path, 1))
        if env.python is None:
            continue
        for peer in peers:
            if peer not in env.runnable:
                continue
            try:
                results.append(
                    _peer(env.python, peer, path, ours, ours.items if peer == "chatpack" else None)
                )
            except ChildFailed as failed:
                print(f"peers: {peer} failed: {failed}", file=sys.stderr, flush=True)
    return results
