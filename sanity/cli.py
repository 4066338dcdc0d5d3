"""The `sanity` command line: thin click commands over the modules."""

from __future__ import annotations

import functools
import logging
import os
import re
import signal
import sys
import threading
import time
import zlib

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from .locks import LockBusy
from .timeutil import get_clock


class InputError(click.ClickException):
    """Bad input from the user: one clear line, exit code 2."""

    exit_code = 2


def needs_database(f):
    """Run in the app context, after checking the database is reachable and migrated."""

    @functools.wraps(f)
    @with_appcontext
    def wrapper(*args, **kwargs):
        from sqlalchemy.exc import OperationalError

        from .db import schema_problem

        problem = schema_problem()
        if problem:
            raise click.ClickException(problem)
        try:
            return f(*args, **kwargs)
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0]
            raise click.ClickException(f"database error: {reason}") from None

    return wrapper


def setup_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.WARNING)


def _run_summary(run) -> str:
    text = f"{run.kind} {run.status}: {run.pages} pages, {run.new} new, {run.updated} updated"
    return text + (f" ({run.error})" if run.error else "")


@click.command("crawl")
@needs_database
def crawl_command() -> None:
    """Crawl the arXiv API once now (incremental), then update features."""
    from .crawler import crawl

    setup_logging()
    try:
        run = crawl(get_clock())
    except LockBusy as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(_run_summary(run))
    if run.status == "failed":
        sys.exit(1)


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@click.command("harvest")
@click.option("--from", "from_date", help="Only records changed on or after YYYY-MM-DD.")
@click.option("--set", "set_spec", help="OAI-PMH set, e.g. cs or physics:hep-th.")
@needs_database
def harvest_command(from_date: str | None, set_spec: str | None) -> None:
    """Bulk harvest over OAI-PMH; an interrupted harvest resumes where it stopped."""
    from .harvest import harvest

    if from_date and not _DATE.match(from_date):
        raise InputError(f"--from must be a date like 2024-01-31, not {from_date!r}")
    setup_logging()
    try:
        run = harvest(get_clock(), from_date, set_spec)
    except LockBusy as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(_run_summary(run))
    if run.status == "failed":
        sys.exit(1)


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
    from . import compute
    from .ingest import import_snapshot, open_snapshot
    from .locks import INGEST_LOCK, Lease

    try:
        stream = open_snapshot(path)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    clock = get_clock()
    lease = Lease(INGEST_LOCK, clock, float(current_app.config["JOB_LEASE_SECONDS"]))
    last = [time.monotonic()]
    renewed = [clock.monotonic()]

    def progress(stats) -> None:
        # Between batches (nothing uncommitted): a long import must not let its lease lapse.
        if clock.monotonic() - renewed[0] >= lease.seconds / 3:
            lease.renew()
            renewed[0] = clock.monotonic()
        if time.monotonic() - last[0] >= 2:
            last[0] = time.monotonic()
            click.echo(
                f"  {stats.lines:,} lines: {stats.new:,} new, {stats.updated:,} updated, "
                f"{stats.bad:,} bad, {stats.rate:,.0f} lines/s",
                err=True,
            )

    def report(message: str) -> None:
        click.echo(f"skipped {message}", err=True)

    try:
        with stream, lease:  # the stream first, so that a busy lock still closes it
            stats = import_snapshot(stream, list(categories), batch_size, progress, report)
    except LockBusy as exc:
        raise click.ClickException(str(exc)) from None
    except (OSError, EOFError, zlib.error) as exc:  # e.g. a truncated or corrupt .gz
        raise InputError(f"cannot read {path}: {exc}") from None
    compute.update_after_ingest(stats.changed)
    click.echo(
        f"imported {stats.lines:,} lines in {stats.seconds:.1f}s: {stats.new:,} new, "
        f"{stats.updated:,} updated, {stats.unchanged:,} unchanged, "
        f"{stats.filtered:,} filtered out, {stats.bad:,} malformed"
    )


BUILD_NICENESS = 10


@click.command("compute")
@click.option(
    "--update",
    is_flag=True,
    help="Only vectorize papers new or changed since the last build (refits when stale).",
)
@needs_database
def compute_command(update: bool) -> None:
    """Rebuild TF-IDF features and the search index from scratch."""
    from . import compute
    from .locks import LockBusy

    setup_logging()
    os.nice(BUILD_NICENESS)  # background work: page views on the same machine come first
    started = time.monotonic()
    try:
        if update:
            click.echo(compute.update())
            return
        built = compute.full_build()
    except LockBusy as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:  # disk full, permissions: the previous build stays in place
        raise click.ClickException(f"could not write features: {exc}") from None
    if built is None:
        click.echo("no papers yet: search index rebuilt, no features to build")
    else:
        click.echo(
            f"built features for {built.n:,} papers ({len(built.vocabulary):,} terms) "
            f"in {time.monotonic() - started:.1f}s"
        )


def _require_secret(app: Flask) -> None:
    from . import check_secret_key

    if app.debug or app.testing:
        return
    try:
        check_secret_key(app)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 64))
@click.option("--no-scheduler", is_flag=True, help="Do not run the crawl schedule here.")
@needs_database
def serve_command(host: str, port: int, threads: int, no_scheduler: bool) -> None:
    """Serve the web UI and API with waitress; runs the scheduler in a thread."""
    from waitress import serve

    from .scheduler import build_scheduler

    app = current_app._get_current_object()
    _require_secret(app)
    setup_logging()
    scheduler = None if no_scheduler else build_scheduler(app)
    if scheduler:
        scheduler.start()
        job = scheduler.get_job("crawl")
        logging.getLogger(__name__).info("scheduler started; next crawl %s", job.next_run_time)
    click.echo(f"sanity serving on http://{host}:{port}/", err=True)
    try:
        serve(app, host=host, port=port, threads=threads, ident="sanity")
    finally:
        if scheduler:
            scheduler.shutdown(wait=False)


@click.command("worker")
@needs_database
def worker_command() -> None:
    """Run the scheduler alone (crawls and feature updates) for a gunicorn deployment."""
    from .scheduler import build_scheduler

    app = current_app._get_current_object()
    _require_secret(app)
    setup_logging()
    scheduler = build_scheduler(app, blocking=True)
    stop = threading.Event()

    def shutdown(signum, frame) -> None:
        stop.set()
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, shutdown)
    logging.getLogger(__name__).info("worker started; next crawl %s", scheduler.get_job("crawl"))
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass


COMMANDS = [
    crawl_command,
    harvest_command,
    import_command,
    compute_command,
    serve_command,
    worker_command,
]


def init_app(app: Flask) -> None:
    from .cli_digest import digest_command
    from .cli_lite import import_lite_command
    from .cli_users import user_cli

    for command in COMMANDS:
        app.cli.add_command(command)
    app.cli.add_command(user_cli)
    app.cli.add_command(digest_command)
    app.cli.add_command(import_lite_command)


def _create_cli_app() -> Flask:
    from . import create_app

    return create_app(require_secret=False)


main = FlaskGroup(
    name="sanity",
    help="sanity: crawl arXiv, rank papers, serve the web UI.",
    create_app=_create_cli_app,
    add_version_option=False,
    load_dotenv=False,
    set_debug_flag=False,
)
