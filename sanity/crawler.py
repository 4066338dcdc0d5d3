"""Incremental crawl of the arXiv export API: fetch -> parse -> upsert, one transaction a page.

Coverage is tracked on arXiv's lastUpdatedDate axis. Each run walks the newest results until
it meets pages it already knows. A run that stops early (error, limit, the empty-page quirk)
leaves a gap [lo, hi]; it is saved with every page, in the same transaction as the papers, so
even a killed process leaves an exact resume point. The next run first walks each gap as a
lastUpdatedDate window query, then the newest results.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select, update

from . import compute
from .arxiv import ApiError, FeedError, FeedPage, build_query_url, parse_feed, window_query
from .db import db
from .ingest import upsert_papers
from .locks import INGEST_LOCK, Lease
from .models import CrawlRun, Paper
from .polite import FetchError, PoliteClient, get_parsed
from .timeutil import Clock, as_utc, isoformat

log = logging.getLogger(__name__)


class CrawlStopped(Exception):
    """The walk cannot go on this run (the reason is recorded; the gap stays for the next)."""


@dataclass
class Walk:
    """State of one run shared by its phases."""

    budget: int
    gaps: list[list[datetime]]
    head_gap: list[datetime] | None = None
    pages: int = 0
    new: int = 0
    updated: int = 0
    changed: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)

    def state(self) -> dict:
        gaps = self.gaps + ([self.head_gap] if self.head_gap else [])
        return {"gaps": [[isoformat(lo), isoformat(hi)] for lo, hi in gaps]}


class Crawler:
    """One crawl run against the configured arXiv API."""

    def __init__(
        self,
        clock: Clock,
        client: PoliteClient | None = None,
        lease: Lease | None = None,
        on_page: Callable[[int], None] | None = None,
    ) -> None:
        cfg = current_app.config
        self.cfg = cfg
        self.clock = clock
        self.client = client or PoliteClient.from_config(cfg, clock)
        self.lease = lease
        self.on_page = on_page  # test hook: called before each page's commit
        self.page_size = int(cfg["CRAWL_PAGE_SIZE"])
        self.query = cfg["ARXIV_QUERY"]

    # ---- fetching ----

    def fetch(self, query: str, start: int, size: int) -> FeedPage:
        """One page, parsed; malformed XML is retried like a failed request."""
        url = build_query_url(self.cfg["ARXIV_API_URL"], query, start, size)
        try:
            return get_parsed(self.client, url, parse_feed, retry_on=(FeedError,))
        except FetchError as exc:
            if exc.status == 400 and exc.body:
                parse_feed(exc.body)  # raises ApiError with arXiv's own message
            raise

    def fetch_full(self, query: str, start: int, size: int) -> FeedPage:
        """A page, retrying arXiv's empty/short-page quirk a few times before accepting it."""
        retries = int(self.cfg["CRAWL_EMPTY_PAGE_RETRIES"])
        for attempt in range(retries + 1):
            page = self.fetch(query, start, size)
            expected = min(size, max(page.total - start, 0))
            if len(page.entries) >= expected:
                return page
            log.warning(
                "arXiv returned %d of %d expected entries at start=%d (total %d)",
                len(page.entries), expected, start, page.total,
            )  # fmt: skip
            if attempt < retries:
                self.clock.sleep(self.client.backoff_for(attempt))
        if not page.entries:
            raise CrawlStopped(
                f"arXiv kept returning empty pages at start={start} although totalResults="
                f"{page.total} (tried {retries + 1} times)"
            )
        return page  # a short page: take what came and move on

    # ---- walking ----

    def walk(self, run: CrawlRun, w: Walk, query: str, stop_when_known: bool, track) -> bool:
        """Page through a query, committing each page with the resume state.

        `track(last_updated, exhausted)` updates the walk's gaps after a page. Returns True if
        the walk finished (exhausted, or met known pages), False if the budget ran out.
        """
        start, known_pages = 0, 0
        while w.budget > 0:
            page = self.fetch_full(query, start, min(self.page_size, w.budget))
            records = page.entries
            fresh = [r for r in records if r.id not in w.seen]
            result = upsert_papers(fresh)
            w.seen.update(r.id for r in records)
            w.budget -= len(records)
            start += len(records)
            exhausted = not records or start >= page.total
            w.pages += 1
            w.new += result.new
            w.updated += result.updated
            w.changed += result.new_ids + result.updated_ids
            known_pages = 0 if (result.new or result.updated) else known_pages + 1
            done = exhausted or (stop_when_known and known_pages >= self.stop_after)
            track(min((r.updated for r in records), default=None), done)
            self.commit_page(run, w)
            log.info(
                "crawl page %d: start=%d had=%d new=%d replaced=%d of total %d",
                w.pages, start - len(records), len(records), result.new, result.updated,
                page.total,
            )  # fmt: skip
            if done:
                return True
        return False

    @property
    def stop_after(self) -> int:
        return max(1, int(self.cfg["CRAWL_STOP_AFTER_KNOWN_PAGES"]))

    def commit_page(self, run: CrawlRun, w: Walk) -> None:
        run.pages, run.new, run.updated = w.pages, w.new, w.updated
        run.requests = self.client.requests_made
        run.resume = w.state()
        if self.on_page:
            self.on_page(w.pages)
        db.session.commit()
        if self.lease:
            self.lease.renew()

    def close_gap(self, run: CrawlRun, w: Walk, gap: list[datetime]) -> None:
        """Walk one lastUpdatedDate window completely, shrinking it as pages arrive."""
        lo, hi = gap

        def track(last: datetime | None, done: bool) -> None:
            if done:
                w.gaps.remove(gap)
            elif last is not None:
                gap[1] = min(gap[1], last)

        query = window_query(self.query, lo, hi)
        self.walk(run, w, query, stop_when_known=False, track=track)

    def head(self, run: CrawlRun, w: Walk) -> bool:
        """Walk the newest results until they are known; leave a gap if stopped early."""
        newest = db.session.scalar(select(func.max(Paper.updated)))
        margin = timedelta(hours=float(self.cfg["CRAWL_GAP_MARGIN_HOURS"]))
        floor = as_utc(newest) - margin if newest else None

        def track(last: datetime | None, done: bool) -> None:
            if done or floor is None or last is None or last < floor:
                w.head_gap = None
            else:
                w.head_gap = [floor, last]

        return self.walk(run, w, self.query, stop_when_known=True, track=track)

    # ---- the run ----

    def run(self) -> CrawlRun:
        """Crawl once: close recorded gaps, then fetch the newest papers. Returns the run row."""
        previous = db.session.scalars(CrawlRun.latest("api").limit(1)).first()
        gaps = _load_gaps(previous.resume if previous else None)
        db.session.execute(
            update(CrawlRun)
            .where(CrawlRun.kind == "api", CrawlRun.status == "running")
            .values(status="failed", error="interrupted (the process stopped mid-run)")
        )
        run = CrawlRun(kind="api", started=self.clock.now(), status="running")
        w = Walk(budget=int(self.cfg["CRAWL_MAX_RESULTS"]), gaps=gaps)
        run.resume = w.state()
        db.session.add(run)
        db.session.commit()
        status, error = "ok", None
        try:
            for gap in list(w.gaps):
                if w.budget > 0:
                    self.close_gap(run, w, gap)
            finished = w.budget > 0 and self.head(run, w)
            if not finished:
                status = "partial" if w.state()["gaps"] else "ok"
                error = f"stopped at CRAWL_MAX_RESULTS={self.cfg['CRAWL_MAX_RESULTS']}"
        except (FetchError, FeedError, ApiError, CrawlStopped) as exc:
            db.session.rollback()
            status, error = "failed", str(exc)
            log.error("crawl failed: %s", exc)
        except BaseException as exc:
            db.session.rollback()
            self.finish(run, w, "failed", f"{exc.__class__.__name__}: {exc}")
            raise
        self.finish(run, w, status, error)
        return run

    def finish(self, run: CrawlRun, w: Walk, status: str, error: str | None) -> None:
        run = db.session.merge(run)
        run.status, run.error, run.finished = status, error, self.clock.now()
        run.requests = self.client.requests_made
        db.session.commit()
        if w.changed:
            compute.update_after_ingest(len(w.changed))
        log.info(
            "crawl %s: %d pages, %d new, %d replaced%s",
            status, run.pages, run.new, run.updated, f" ({error})" if error else "",
        )  # fmt: skip


def _load_gaps(state: dict | None) -> list[list[datetime]]:
    gaps = []
    for lo, hi in (state or {}).get("gaps", []):
        lo_dt, hi_dt = as_utc(datetime.fromisoformat(lo)), as_utc(datetime.fromisoformat(hi))
        if lo_dt <= hi_dt:
            gaps.append([lo_dt, hi_dt])
    return gaps


def crawl(clock: Clock, **kwargs) -> CrawlRun:
    """Run one crawl under the database lock (raises LockBusy if another crawl holds it)."""
    seconds = float(current_app.config["JOB_LEASE_SECONDS"])
    with Lease(INGEST_LOCK, clock, seconds) as lease:
        return Crawler(clock, lease=lease, **kwargs).run()
