"""Long-running commands: the web server (with the scheduler in a thread) and the worker."""

from __future__ import annotations

import logging
import signal

import click
from flask import current_app
from waitress import serve

from sanity import engine
from sanity.cli.common import needs_database, require_secret, setup_logging
from sanity.memory import bound_malloc_arenas
from sanity.scheduler import build_scheduler

log = logging.getLogger(__name__)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 64))
@click.option("--no-scheduler", is_flag=True, help="Do not run the crawl schedule here.")
@needs_database
def serve_command(host: str, port: int, threads: int, no_scheduler: bool) -> None:
    """Serve the web UI and API with waitress; runs the scheduler in a thread."""
    app = current_app._get_current_object()
    require_secret(app)
    setup_logging()
    bound_malloc_arenas()
    engine.preload()
    scheduler = None if no_scheduler else build_scheduler(app)
    if scheduler:
        scheduler.start()
        log.info("scheduler started; next crawl %s", scheduler.get_job("crawl").next_run_time)
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
    app = current_app._get_current_object()
    require_secret(app)
    setup_logging()
    scheduler = build_scheduler(app, blocking=True)
    signal.signal(signal.SIGTERM, lambda signum, frame: scheduler.shutdown(wait=False))
    log.info("worker started; next crawl %s", scheduler.get_job("crawl"))
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
