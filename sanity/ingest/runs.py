"""Crawl and harvest runs: the rows that record each run's progress and resume point."""

from __future__ import annotations

from sqlalchemy import update

from sanity.db import db
from sanity.models import CrawlRun
from sanity.timeutil import Clock

INTERRUPTED = "interrupted (the process stopped mid-run)"


def start_run(kind: str, clock: Clock, resume: dict | None = None) -> CrawlRun:
    """Record a new running run of `kind`; runs a killed process left "running" are marked
    failed first. Commits."""
    db.session.execute(
        update(CrawlRun)
        .where(CrawlRun.kind == kind, CrawlRun.status == "running")
        .values(status="failed", error=INTERRUPTED)
    )
    run = CrawlRun(kind=kind, started=clock.now(), status="running", resume=resume)
    db.session.add(run)
    db.session.commit()
    return run
