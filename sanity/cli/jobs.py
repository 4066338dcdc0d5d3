"""The pipeline's commands: crawl, harvest, import, compute, digest, thumbnails.

Each ingest command runs its stage, then the feature update for what it changed: the stages are
chained here (and in the scheduler), never by each other.
"""

from __future__ import annotations

import os
import re
import sys
import time
import zlib
from contextlib import contextmanager

import click

from sanity.cli.common import InputError, needs_database, setup_logging, warn
from sanity.cli.embed import run_embeddings
from sanity.cli.progress import Progress
from sanity.engine import embeddings, jobs
from sanity.ingest.crawler import crawl
from sanity.ingest.harvest import harvest
from sanity.ingest.snapshot import import_snapshot, open_snapshot
from sanity.ingest.thumbnails import ThumbnailsOff, make_thumbnails
from sanity.leases import INGEST_LOCK, Lease
from sanity.mail import digest
from sanity.models import CrawlRun
from sanity.timeutil import get_clock

BUILD_NICENESS = 10
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _finish(run: CrawlRun) -> None:
    """Rank what the run changed, say what it did; exit 1 if it failed."""
    rank_changed(run.new + run.updated)
    text = f"{run.kind} {run.status}: {run.pages} pages, {run.new} new, {run.updated} updated"
    click.echo(text + (f" ({run.error})" if run.error else ""))
    if run.status == "failed":
        sys.exit(1)


@click.command("crawl")
@needs_database
def crawl_command() -> None:
    """Crawl the arXiv API once now (incremental), then update features."""
    setup_logging()
    _finish(crawl(get_clock()))


@click.command("harvest")
@click.option("--from", "from_date", help="Only records changed on or after YYYY-MM-DD.")
@click.option("--set", "set_spec", help="OAI-PMH set, e.g. cs or physics:hep-th.")
@needs_database
def harvest_command(from_date: str | None, set_spec: str | None) -> None:
    """Bulk harvest over OAI-PMH; an interrupted harvest resumes where it stopped."""
    if from_date and not _DATE.match(from_date):
        raise InputError(f"--from must be a date like 2024-01-31, not {from_date!r}")
    setup_logging()
    with Progress("harvest", unit="rec") as bar:
        run = harvest(get_clock(), from_date, set_spec, progress=bar.update)
    _finish(run)


@click.command("import")
@click.argument("path")
@click.option(
    "--category",
    "categories",
    multiple=True,
    help="Keep papers in this category (glob, e.g. 'cs.*'); repeatable.",
)
@click.option("--batch-size", default=2000, show_default=True, type=click.IntRange(1, 100_000))
@needs_database
def import_command(path: str, categories: tuple[str, ...], batch_size: int) -> None:
    """Import arXiv's bulk metadata snapshot (JSON lines, .gz ok, '-' for stdin)."""
    try:
        stream = open_snapshot(path)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    lease = Lease.for_job(INGEST_LOCK, get_clock())
    raw = getattr(stream, "fileobj", stream)  # the file under a gzip stream: bytes read so far
    size = _size(raw) if path != "-" else None  # a file: bytes, with an ETA; a pipe: lines
    progress = Progress("import", unit="B" if size else "line")

    def report(stats) -> None:
        lease.keep()  # between batches (nothing uncommitted): a long import keeps its lock
        progress.update(
            _position(raw, stats.lines) if size else stats.lines,
            size,
            line=lambda: (
                f"  {stats.lines:,} lines: {stats.new:,} new, {stats.updated:,} "
                f"updated, {stats.bad:,} bad, {stats.rate:,.0f} lines/s"
            ),
            postfix=f"{stats.lines:,} lines, {stats.new:,} new, {stats.updated:,} updated",
        )

    try:
        with stream, lease, progress:  # the stream first, so that a busy lock still closes it
            stats = import_snapshot(
                stream, list(categories), batch_size, report, lambda m: warn(f"skipped {m}")
            )
    except (OSError, EOFError, zlib.error) as exc:  # e.g. a truncated or corrupt .gz
        raise InputError(f"cannot read {path}: {exc}") from None
    rank_changed(stats.changed)
    click.echo(
        f"imported {stats.lines:,} lines in {stats.seconds:.1f}s: {stats.new:,} new, "
        f"{stats.updated:,} updated, {stats.unchanged:,} unchanged, "
        f"{stats.filtered:,} filtered out, {stats.bad:,} malformed"
    )


def _size(raw) -> int | None:
    try:
        return os.fstat(raw.fileno()).st_size or None
    except (OSError, AttributeError, ValueError):
        return None


def _position(raw, lines: int) -> int:
    """Bytes of the file read so far (lines when the stream cannot tell, e.g. a pipe)."""
    try:
        return raw.tell()
    except (OSError, AttributeError, ValueError):
        return lines


@click.command("compute")
@click.option(
    "--update",
    is_flag=True,
    help="Only vectorize papers new or changed since the last build (refits when stale).",
)
@needs_database
def compute_command(update: bool) -> None:
    """Rebuild TF-IDF features and the search index from scratch."""
    setup_logging()
    os.nice(BUILD_NICENESS)  # background work: page views on the same machine come first
    started = time.monotonic()
    try:
        if update:
            click.echo(jobs.update())
        else:
            built = _full_build()
    except OSError as exc:  # disk full, permissions: the previous build stays in place
        raise click.ClickException(f"could not write features: {exc}") from None
    if embeddings.enabled():
        run_embeddings()  # the semantic layer: only papers new or changed since its last run
    if update:
        return
    if built is None:
        click.echo("no papers yet: search index rebuilt, no features to build")
    else:
        click.echo(
            f"built features for {built.n:,} papers ({len(built.vocabulary):,} terms) "
            f"in {time.monotonic() - started:.1f}s"
        )


@contextmanager
def _pass_bars():
    """A progress report for a build: a bar per pass over the papers (vocabulary, counts)."""
    bars: dict[str, Progress] = {}

    def report(stage: str, done: int, total: int) -> None:
        if stage not in bars:
            for bar in bars.values():
                bar.close()
            bars[stage] = Progress(f"compute: {stage}", unit="paper")
        bars[stage].update(done, total)

    try:
        yield report
    finally:
        for bar in bars.values():
            bar.close()


def _full_build():
    with _pass_bars() as report:
        return jobs.full_build(progress=report)


def rank_changed(changed: int) -> None:
    """After a one-shot ingest command: make what it changed rankable in this process, at a
    build's priority, with a bar per pass when that takes a full build (what a child's
    `sanity compute --update` did, without starting a second interpreter)."""
    if not changed:
        return
    os.nice(BUILD_NICENESS)
    with _pass_bars() as report:
        jobs.update_after_ingest(changed, here=True, progress=report)
    if embeddings.enabled():
        run_embeddings()  # the semantic layer, as `sanity compute --update` does


@click.command("digest")
@click.option("--dry-run", is_flag=True, help="Print what would be sent; send and record nothing.")
@needs_database
def digest_command(dry_run: bool) -> None:
    """Send each subscriber their digest of new recommendations; exit 1 if any failed."""
    setup_logging()
    stats = digest.run(dry_run=dry_run, echo=click.echo)
    click.echo(stats.summary())
    if stats.failed:
        sys.exit(1)


@click.command("thumbnails")
@needs_database
def thumbnails_command() -> None:
    """Make missing first-page thumbnails of recent papers now (with THUMBNAILS=true); exit 1
    if arXiv stopped answering (skipped PDFs are no failure)."""
    progress = Progress("thumbnails", unit="paper", every=10.0)

    def report(stats, done: int, total: int) -> None:
        def line() -> str:
            return (f"  {done:,}/{total:,} papers: {stats.made:,} made, {stats.failed:,} "
                    f"skipped, {progress.rate(done) * 60:,.1f} papers/min")  # fmt: skip

        progress.update(done, total, line, postfix=f"{stats.made:,} made")

    setup_logging()
    try:
        with progress:
            stats = make_thumbnails(get_clock(), report)
    except ThumbnailsOff as exc:
        raise InputError(str(exc)) from None
    click.echo(stats.summary())
    if stats.stopped:
        sys.exit(1)
