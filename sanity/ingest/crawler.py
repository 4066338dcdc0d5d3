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
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import func, select

from sanity.arxiv import ApiError, FeedError, FeedPage, build_query_url, parse_feed, window_query
from sanity.db import db
from sanity.ingest.polite import FetchError, PoliteClient, get_parsed
from sanity.ingest.runs import start_run
from sanity.ingest.upsert import upsert_papers
from sanity.leases import INGEST_LOCK, Lease
from sanity.models import CrawlRun, Paper
from sanity.timeutil import Clock, as_utc, isoformat

log = logging.getLogger(__name__)


class CrawlStopped(Exception):
    """The walk cannot go on this run (the reason is recorded; the gap stays for the next)."""


# A gap is [lo, hi] or, for the unfinished first crawl of an empty database, [lo, hi, limit]:
# a window still to walk, newest first, and how many results it may still take.
Gap = list

ARXIV_BEGINS = datetime(1991, 1, 1, tzinfo=UTC)  # lower bound of the first crawl's window


def _minute(value: datetime) -> datetime:
    return value.replace(second=0, microsecond=0)


@dataclass
class Walk:
    """State of one run shared by its phases."""

    budget: int
    gaps: list[Gap]
    head_gap: Gap | None = None
    pages: int = 0
    new: int = 0
    updated: int = 0
    seen: set[str] = field(default_factory=set)

    def state(self) -> dict:
        gaps = self.gaps + ([self.head_gap] if self.head_gap else [])
        return {"gaps": [[isoformat(g[0]), isoformat(g[1]), *g[2:]] for g in gaps]}


class HeadPager:
    """The newest results, by offset. While unfinished, what lies between the last page and
    the newest stored paper (the floor) is a gap; on an empty database the gap reaches back
    as far as the first crawl's CRAWL_MAX_RESULTS would have gone."""

    def __init__(self, query: str, w: Walk, floor: datetime | None) -> None:
        self.query, self.w, self.floor = query, w, floor
        self.start = 0
        self.first_limit = w.budget  # a first crawl takes at most this many

    def room(self) -> int:
        return self.w.budget

    def position(self) -> tuple[str, int]:
        return self.query, self.start

    def advance(self, records: list, done: bool) -> None:
        self.start += len(records)
        last = min((r.updated for r in records), default=None)
        if done or last is None:
            self.w.head_gap = None
        elif self.floor is None:
            left = self.first_limit - self.start
            self.w.head_gap = [ARXIV_BEGINS, last, left] if left > 0 else None
        elif last < self.floor:
            self.w.head_gap = None
        else:
            self.w.head_gap = [self.floor, last]


class WindowPager:
    """A gap's window, newest first. Each page re-asks for [lo, oldest seen] rather than the
    next offset of the first query: a paper revised meanwhile leaves the window, and offsets
    would then skip one unseen paper. Only papers of the boundary minute (the query's
    resolution) are skipped by offset."""

    def __init__(self, query: str, w: Walk, gap: Gap) -> None:
        self.query, self.w, self.gap = query, w, gap
        self.at_top = 0  # papers of hi's minute already seen, which sort first

    def room(self) -> int:
        return self.gap[2] if len(self.gap) > 2 else self.w.budget

    def position(self) -> tuple[str, int]:
        return window_query(self.query, self.gap[0], self.gap[1]), self.at_top

    def advance(self, records: list, done: bool) -> None:
        if len(self.gap) > 2:
            self.gap[2] -= len(records)
            done = done or self.gap[2] <= 0
        if done:
            self.w.gaps.remove(self.gap)
            return
        oldest = min(r.updated for r in records)
        if _minute(oldest) < _minute(self.gap[1]):
            self.at_top = sum(1 for r in records if _minute(r.updated) == _minute(oldest))
        else:
            self.at_top += len(records)
        self.gap[1] = min(self.gap[1], oldest)


Pager = HeadPager | WindowPager


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

    def walk(self, run: CrawlRun, w: Walk, pager: Pager, stop_when_known: bool) -> bool:
        """Page through a query, committing each page with the resume state.

        Returns True if the walk finished (exhausted, or met known pages), False if the budget
        ran out.
        """
        known_pages = 0
        while (size := min(self.page_size, w.budget, pager.room())) > 0:
            query, start = pager.position()
            page = self.fetch_full(query, start, size)
            records = page.entries
            fresh = [r for r in records if r.id not in w.seen]
            result = upsert_papers(fresh)
            w.seen.update(r.id for r in records)
            w.budget -= len(records)
            exhausted = not records or start + len(records) >= page.total
            w.pages += 1
            w.new += result.new
            w.updated += result.updated
            known_pages = 0 if (result.new or result.updated) else known_pages + 1
            done = exhausted or (stop_when_known and known_pages >= self.stop_after)
            pager.advance(records, done)
            self.commit_page(run, w)
            log.info(
                "crawl page %d: start=%d had=%d new=%d replaced=%d skipped=%d of total %d",
                w.pages, start, len(records), result.new, result.updated,
                len(result.unstorable), page.total,
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

    def close_gap(self, run: CrawlRun, w: Walk, gap: Gap) -> None:
        """Walk one lastUpdatedDate window completely, shrinking it as pages arrive."""
        self.walk(run, w, WindowPager(self.query, w, gap), stop_when_known=False)

    def head(self, run: CrawlRun, w: Walk) -> bool:
        """Walk the newest results until they are known; leave a gap if stopped early."""
        newest = db.session.scalar(select(func.max(Paper.updated)))
        margin = timedelta(hours=float(self.cfg["CRAWL_GAP_MARGIN_HOURS"]))
        floor = as_utc(newest) - margin if newest else None
        return self.walk(run, w, HeadPager(self.query, w, floor), stop_when_known=True)

    # ---- the run ----

    def run(self) -> CrawlRun:
        """Crawl once: close recorded gaps, then fetch the newest papers. Returns the run row."""
        previous = db.session.scalars(CrawlRun.latest("api").limit(1)).first()
        gaps = _load_gaps(previous.resume if previous else None)
        w = Walk(budget=int(self.cfg["CRAWL_MAX_RESULTS"]), gaps=gaps)
        run = start_run("api", self.clock, w.state())
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
        log.info(
            "crawl %s: %d pages, %d new, %d replaced%s",
            status, run.pages, run.new, run.updated, f" ({error})" if error else "",
        )  # fmt: skip


def _load_gaps(state: dict | None) -> list[Gap]:
    gaps = []
    for lo, hi, *limit in (state or {}).get("gaps", []):
        lo_dt, hi_dt = as_utc(datetime.fromisoformat(lo)), as_utc(datetime.fromisoformat(hi))
        if lo_dt <= hi_dt and all(n > 0 for n in limit):
            gaps.append([lo_dt, hi_dt, *limit])
    return gaps


def crawl(clock: Clock, **kwargs) -> CrawlRun:
    """Run one crawl under the database lock (raises LockBusy if another crawl holds it).

    The run's `new` and `updated` say what changed; the caller runs the feature update."""
    with Lease.for_job(INGEST_LOCK, clock) as lease:
        return Crawler(clock, lease=lease, **kwargs).run()
