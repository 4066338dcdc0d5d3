"""The APScheduler (3.x) that runs the periodic jobs and chains the stages:
crawl -> feature update -> thumbnails (opt-in); daily refit; daily digests. Never started inside
create_app."""

from __future__ import annotations

import logging
from datetime import timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask
from sqlalchemy import exists, select

from sanity.db import db
from sanity.engine import embedding_job, embeddings, jobs
from sanity.engine.jobs import full_build, run_in_child
from sanity.ingest.crawler import crawl
from sanity.ingest.thumbnails import make_thumbnails
from sanity.leases import LockBusy
from sanity.mail import digest
from sanity.models import Paper
from sanity.timeutil import UTC, get_clock

log = logging.getLogger(__name__)

JOB_DEFAULTS = {
    "coalesce": True,  # a backlog of missed runs becomes one run
    "max_instances": 1,
    "misfire_grace_time": None,  # a late run still runs, however late
}


def run_job(app, name: str, work, logger: logging.Logger = log) -> None:
    """Run a scheduled job: in an app context, skipped quietly while another process holds its
    lock, and never raising (a crash is logged; the scheduler keeps going)."""
    with app.app_context():
        try:
            done = work()
            if done:
                logger.info("scheduled %s", done)
        except LockBusy as exc:
            logger.info("scheduled %s skipped: %s", name, exc)
        except Exception:
            logger.exception("scheduled %s crashed", name)
        finally:
            db.session.remove()


def crawl_job(app: Flask) -> None:
    """Scheduled crawl, then the feature update for what it changed, then thumbnails (when on);
    each skipped quietly if another process holds its lock; never raises."""

    def work() -> str:
        run = crawl(get_clock(app))
        jobs.update_after_ingest(run.new + run.updated)
        if embeddings.enabled(app.config) and run.new + run.updated:
            embedding_job.embed_in_child(app)  # the opt-in semantic layer
        return f"crawl {run.status}: {run.new} new, {run.updated} replaced"

    run_job(app, "crawl", work, log)
    if app.config["THUMBNAILS"]:
        thumbnails_job(app)


def thumbnails_job(app: Flask) -> None:
    """Thumbnails of the recent papers (after each crawl, with THUMBNAILS on); never raises."""
    run_job(app, "thumbnails", lambda: make_thumbnails(get_clock(app)).summary(), log)


def compute_job(app: Flask) -> None:
    """Scheduled full refit of features and the search index, in a child process."""

    def work() -> None:
        if app.config["FEATURES_IN_CHILD"]:
            run_in_child(app, [])
        else:
            full_build()

    run_job(app, "feature build", work, log)


def digest_job(app: Flask) -> None:
    """The daily digests: skipped if another process sends them; never raises."""
    run_job(app, "digests", lambda: digest.run().summary(), log)


def database_is_empty(app: Flask) -> bool:
    with app.app_context():
        try:
            return not db.session.scalar(select(exists().where(Paper.id.is_not(None))))
        finally:
            db.session.remove()


def build_scheduler(app: Flask, blocking: bool = False):
    """Crawl on schedule (at once when there are no papers), refit features and mail digests
    daily."""
    kind = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = kind(timezone=UTC, job_defaults=JOB_DEFAULTS)
    minutes = float(app.config["CRAWL_INTERVAL_MINUTES"])
    now = get_clock(app).now()
    first = now + timedelta(minutes=minutes)
    if app.config["CRAWL_ON_START_IF_EMPTY"] and database_is_empty(app):
        first = now
    scheduler.add_job(
        crawl_job,
        IntervalTrigger(minutes=minutes, timezone=UTC),
        args=[app],
        id="crawl",
        name="crawl arXiv",
        next_run_time=first,
    )
    hours = float(app.config["COMPUTE_INTERVAL_HOURS"])
    scheduler.add_job(
        compute_job,
        IntervalTrigger(hours=hours, timezone=UTC),
        args=[app],
        id="compute",
        name="refit features",
        next_run_time=now + timedelta(hours=hours),
    )
    hour = float(app.config["DIGEST_HOUR_UTC"]) % 24
    scheduler.add_job(
        digest_job,
        CronTrigger(hour=int(hour), minute=round(hour % 1 * 60), timezone=UTC),
        args=[app],
        id="digest",
        name="send digests",
    )
    return scheduler
