"""Benchmark the bulk snapshot import and the Atom parser.

Reads ../shared/data/papers.jsonl.gz, converts every record on the fly to arXiv's bulk metadata
snapshot format (Kaggle's arxiv-metadata-oai-snapshot.json) in a child process, and pipes those
lines into sanity.ingest.import_snapshot on a fresh, migrated SQLite database in a temp dir. The
conversion runs in the child so that its cost stays out of the import rate (its CPU time is
reported separately). Then times sanity.arxiv.parse_feed on a 100-entry page in arXiv's Atom
format. Run: .venv/bin/python bench/ingest.py [--limit N] [--gzip]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "papers.jsonl.gz"
TARGET_RATE = 2000  # papers/s
TARGET_RSS_MB = 500
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# ---- conversion: shared data record -> one snapshot line ----


def parse_when(text: str | None) -> datetime | None:
    """`YYYY-MM-DDTHH:MM:SSZ` or `YYYY-MM-DD` as an aware UTC datetime."""
    if not text:
        return None
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def rfc2822(when: datetime) -> str:
    """arXiv's version date format: `Mon, 2 Apr 2007 19:18:42 GMT` (no zero padding)."""
    month = MONTHS[when.month - 1]
    return f"{DAYS[when.weekday()]}, {when.day} {month} {when:%Y %H:%M:%S} GMT"


def join_authors(names: list[str]) -> str:
    """The snapshot's author string: `A, B and C`."""
    if len(names) < 2:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def split_name(name: str) -> list[str]:
    """[last, first, suffix] as in the snapshot's authors_parsed."""
    *first, last = name.split(" ") if name else [""]
    return [last, " ".join(first), ""]


def synth_versions(rec: dict) -> list[dict]:
    first = parse_when(rec.get("published")) or parse_when(rec.get("listing_date"))
    last = parse_when(rec.get("updated"))
    versions = [{"version": "v1", "created": rfc2822(first)}] if first else []
    if first and last and last > first:
        versions.append({"version": "v2", "created": rfc2822(last)})
    return versions


def to_snapshot(rec: dict) -> dict:
    """One shared-data record as a snapshot object (same keys and key order as Kaggle's)."""
    authors = rec.get("authors") or []
    latest = rec.get("updated") or rec.get("published") or rec.get("listing_date")
    return {
        "id": rec["id"],
        "submitter": authors[0] if authors else None,
        "authors": join_authors(authors),
        "title": rec["title"],
        "comments": rec.get("comments"),
        "journal-ref": rec.get("journal_ref"),
        "doi": rec.get("doi"),
        "report-no": rec.get("report_no"),
        "categories": " ".join(rec.get("categories") or []),
        "license": rec.get("license"),
        "abstract": "  " + rec["abstract"] + "\n",  # the snapshot keeps arXiv's raw layout
        "versions": rec.get("versions") or synth_versions(rec),
        "update_date": latest[:10] if latest else None,
        "authors_parsed": [split_name(a) for a in authors],
    }


def records(limit: int | None) -> Iterator[dict]:
    with gzip.open(DATA, "rb") as f:
        yield from (json.loads(line) for line in islice(f, limit))


def emit(limit: int | None, compress: bool) -> None:
    """Child mode: write snapshot lines to stdout."""
    out = sys.stdout.buffer
    if compress:
        out = gzip.GzipFile(fileobj=out, mode="wb", compresslevel=1)
    chunk = []
    try:
        for rec in records(limit):
            chunk.append(json.dumps(to_snapshot(rec), ensure_ascii=False, separators=(",", ":")))
            if len(chunk) == 1000:
                out.write(("\n".join(chunk) + "\n").encode())
                chunk = []
        out.write(("\n".join(chunk) + "\n").encode() if chunk else b"")
        out.close()
    except BrokenPipeError:
        os._exit(1)


# ---- the benchmark ----


def make_app(tmp: Path):
    os.environ["SANITY_INSTANCE_PATH"] = str(tmp / "instance")
    from flask_migrate import upgrade

    from config import Config
    from sanity import create_app

    app = create_app(
        Config,
        {
            "DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}",
            "DATA_DIR": str(tmp / "data"),
            "SECRET_KEY": "bench-" + os.urandom(16).hex(),
        },
        require_secret=False,
    )
    with app.app_context():
        upgrade()
    return app


def rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # KiB on Linux


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def current_rss_mb() -> float | None:
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    return next((int(x.split()[1]) / 1024 for x in status.splitlines() if x.startswith("VmRSS")))


def bench_import(limit: int | None, compress: bool, batch_size: int) -> None:
    # Start the converter while this process is still small: a forked child's peak RSS
    # counts the parent's pages it shared before exec.
    cmd = [sys.executable, __file__, "--emit"] + (["--limit", str(limit)] if limit else [])
    child = subprocess.Popen(cmd + (["--gzip"] if compress else []), stdout=subprocess.PIPE)

    from sqlalchemy import func, select

    from sanity.db import db
    from sanity.ingest import import_snapshot
    from sanity.models import Paper

    with tempfile.TemporaryDirectory(prefix="sanity-bench-") as tmp:
        app = make_app(Path(tmp))
        with app.app_context():
            cpu0 = cpu_seconds(resource.RUSAGE_SELF)
            rss_before = current_rss_mb()
            stream = gzip.GzipFile(fileobj=child.stdout) if compress else child.stdout
            last = [time.monotonic()]

            def progress(stats) -> None:
                if time.monotonic() - last[0] >= 10:
                    last[0] = time.monotonic()
                    print(f"  ... {stats.lines:,} lines, {stats.rate:,.0f}/s", file=sys.stderr)

            started = time.perf_counter()
            stats = import_snapshot(stream, batch_size=batch_size, on_progress=progress)
            seconds = time.perf_counter() - started
            stream.close()
            _, status, child_usage = os.wait4(child.pid, 0)  # this child's own usage
            child.returncode = os.waitstatus_to_exitcode(status)
            importer_cpu = cpu_seconds(resource.RUSAGE_SELF) - cpu0
            rss = rss_mb(resource.RUSAGE_SELF)
            stored = db.session.scalar(select(func.count()).select_from(Paper))
            db.session.remove()
            db.engine.dispose()
        size_mb = (Path(tmp) / "bench.db").stat().st_size / 2**20

    rate = stats.new / seconds if seconds else 0.0
    converter_cpu = child_usage.ru_utime + child_usage.ru_stime
    mark = lambda ok: "ok" if ok else "MISSED"  # noqa: E731
    print(f"input:           {DATA} ({'gzip pipe' if compress else 'plain pipe'})")
    print(
        f"lines read:      {stats.lines:,} ({stats.bad:,} malformed, {stats.filtered:,} filtered)"
    )
    print(f"papers imported: {stats.new:,} new, {stats.updated:,} updated ({stored:,} in database)")
    print(f"seconds:         {seconds:.1f} wall, {importer_cpu:.1f} CPU in the importer")
    print(
        f"papers/s:        {rate:,.0f}   (target >= {TARGET_RATE:,}: {mark(rate >= TARGET_RATE)})"
    )
    print(f"peak RSS:        {rss:.0f} MB importer process"
          f"   (target < {TARGET_RSS_MB} MB: {mark(rss < TARGET_RSS_MB)})")  # fmt: skip
    if rss_before is not None:
        print(
            f"                 {rss_before:.0f} MB of it before the import (code, app, migrations)"
        )
    print(
        f"                 {child_usage.ru_maxrss / 1024:.0f} MB converter child "
        f"(separate process, not counted above)"
    )
    print(
        f"conversion:      {converter_cpu:.1f} CPU s in the child "
        f"({stats.lines / converter_cpu if converter_cpu else 0:,.0f} records/s), "
        "outside the measured rate"
    )
    print(f"database file:   {size_mb:.0f} MB SQLite (batch size {batch_size:,})")


def atom_page(n: int = 100) -> bytes:
    """n real papers from the data file rendered as one export-API page."""
    sys.path.insert(0, str(ROOT))
    from tests.arxiv_server import ATOM_HEAD, FakePaper, atom_entry, ts

    papers = []
    for rec in records(n):
        when = parse_when(rec.get("published")) or parse_when(rec.get("listing_date"))
        papers.append(
            FakePaper(
                id=rec["id"],
                title=rec["title"],
                abstract=rec["abstract"],
                authors=rec["authors"],
                categories=rec["categories"] or ["cs.LG"],
                published=when,
                updated=parse_when(rec.get("updated")),
                comment=rec.get("comments"),
                journal_ref=rec.get("journal_ref"),
                doi=rec.get("doi"),
            )
        )
    head = ATOM_HEAD.format(query="cat:cs.LG", start=0, size=n, total=n, now=ts(datetime.now(UTC)))
    return (head + "".join(atom_entry(p) for p in papers) + "</feed>\n").encode()


def bench_atom(min_seconds: float = 3.0) -> None:
    from sanity.arxiv import parse_feed

    page = atom_page()
    entries = len(parse_feed(page).entries)
    runs, started = 0, time.perf_counter()
    while runs < 5 or time.perf_counter() - started < min_seconds:
        parse_feed(page)
        runs += 1
    seconds = time.perf_counter() - started
    print(
        f"atom parse:      {entries * runs / seconds:,.0f} entries/s "
        f"({runs} parses of a {entries}-entry page, {len(page) / 1024:.0f} KiB, "
        f"{1000 * seconds / runs:.1f} ms each)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="only the first N papers")
    parser.add_argument("--gzip", action="store_true", help="pipe gzip (import decompresses)")
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--emit", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not DATA.is_file():
        print(f"skipped: {DATA} not found (see ../shared/data/README.md)")
        return 0
    if args.emit:
        emit(args.limit, args.gzip)
        return 0
    bench_import(args.limit, args.gzip, args.batch_size)
    bench_atom()
    return 0


if __name__ == "__main__":
    sys.exit(main())
