"""Fault test: six simulated hours of a flapping arXiv lose no paper and never rush it.

The fake arXiv's fault queue is replaced by a schedule keyed to the injectable clock: the
server is healthy, then down in one of many ways (503 with and without Retry-After, 429 with
an HTTP-date Retry-After, a 502 carrying a real feed, dropped connections, timeouts,
truncated XML, HTML error pages, empty and short pages, or a flaky mix of all of these) in
seeded windows, while papers keep appearing and being revised. The crawl job is fired every
CRAWL_INTERVAL_MINUTES exactly as the scheduler would fire it (see test_scheduler's
simulated day). Everything waits on the fake clock, so six hours take a few real seconds.

Two smaller tests below pin down ways an outage once lost papers: a revision during a gap walk
and an outage during the very first crawl.
"""

from __future__ import annotations

import random
import re
from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from sanity.db import db
from sanity.ingest import polite
from sanity.ingest.crawler import crawl
from sanity.models import CrawlRun, JobLock, Paper
from sanity.scheduler import build_scheduler, crawl_job
from sanity.timeutil import FakeClock, as_utc
from tests.arxiv_server import FakeArxiv, FakePaper, Fault
from tests.factories import BASE_TIME, fake_papers

pytestmark = pytest.mark.both_databases

SEED = 20260305
HOURS = 6
INTERVAL_MINUTES = 15
MIN_GAP = 3.0  # arXiv's terms: at most one request every three seconds
REAL_TIMEOUT = 0.25  # real seconds; the "timeout" outage answers after 1 s
EPSILON = 1e-6  # float rounding of the fake monotonic clock

# Every way the server goes down. "short" and "empty" are arXiv's own page quirks.
MODES = (
    "503",
    "503-retry-after",
    "429-retry-after-date",
    "502-with-feed",
    "drop",
    "timeout",
    "truncate",
    "garbage",
    "empty",
    "short",
    "flaky",
)
RETRY_AFTER = {"503-retry-after": 120.0, "429-retry-after-date": 90.0}
FLAKY_KINDS = ("503", "500", "504", "drop", "truncate", "garbage", "empty", "short")

# What a failed run must say about why (one pattern per way it can fail).
FAILURE_REASONS = re.compile(
    r"HTTP (429|50[0234]) from 127\.0\.0\.1 \(gave up after 6 attempts\)"
    r"|could not reach 127\.0\.0\.1: .* \(gave up after 6 attempts\)"
    r"|connection to 127\.0\.0\.1 broke mid-response \(gave up after 6 attempts\)"
    r"|timed out after 0\.25s \(gave up after 6 attempts\)"
    r"|(malformed feed|not an arXiv API feed).* \(gave up after 6 attempts\)"
    r"|arXiv kept returning empty pages at start=\d+ although totalResults=\d+ \(tried 4 times\)"
)


@dataclass(frozen=True)
class Outage:
    start: float  # simulated seconds since the flapping began
    end: float
    mode: str


def flapping_schedule(
    rng: random.Random, first: float, interval: float, total: float
) -> list[Outage]:
    """Outages until `total`, each met by a crawl: some begin before a scheduled run, some a
    few seconds into one (after its first page); most are brief, some outlast several runs.
    Every mode comes at least once; the last outage lasts to the end, so the final crawl must
    recover everything at once."""
    pending = list(MODES)
    rng.shuffle(pending)
    outages: list[Outage] = []
    fire, healthy_until = first, 0.0
    while True:
        fire += interval * rng.choice((0, 0, 1))  # sometimes a healthy run in between
        if rng.random() < 0.5:  # the run starts into it
            start = max(fire - rng.uniform(0, 5) * 60, healthy_until)
        else:  # it breaks out under a running crawl, after its first page
            start = fire + rng.uniform(1, 6)
        short = rng.random() < 0.75
        end = max(start, fire) + (rng.uniform(0.1, 12) if short else rng.uniform(25, 50)) * 60
        if end >= total:
            break
        mode = pending.pop() if pending else rng.choice(MODES)
        outages.append(Outage(start, end, mode))
        healthy_until = end + 60
        while fire < healthy_until:
            fire += interval
    last = outages.pop()
    outages.append(Outage(last.start, total, last.mode))
    assert not pending, f"seed {SEED} leaves modes untried: {pending}"
    assert max(o.end - o.start for o in outages) > 2 * interval
    return outages


@dataclass(frozen=True)
class Arrival:
    at: float  # simulated seconds since the flapping began
    new: int  # papers announced
    revisions: int  # existing papers replaced by a new version


def arrival_schedule(rng: random.Random, total: float) -> list[Arrival]:
    """A few papers every 10-20 simulated minutes, some revisions too, until `total`."""
    out, t = [], 0.0
    while True:
        t += rng.uniform(10, 20) * 60
        if t >= total:
            return out
        out.append(Arrival(t, rng.randint(1, 4), rng.choice((0, 0, 1, 2))))


class FlappingArxiv:
    """Stands in for FakeArxiv.faults: each request's fault comes from the simulated time.

    The server pops one "fault" per request while holding its lock, so instead of a queue
    this looks up the outage the fake clock is in, first publishes the papers due by then
    (arrivals land mid-crawl too, as on arXiv), and notes the request's simulated time.
    """

    def __init__(self, arxiv: FakeArxiv, clock: FakeClock, outages, arrivals, seed: int):
        self.arxiv = arxiv
        self.clock = clock
        self.t0 = clock.monotonic()
        self.base = clock.now()
        self.outages = outages
        self.arrivals = deque(arrivals)
        self.rng = random.Random(seed)  # flaky faults
        self.paper_rng = random.Random(seed + 1)  # which papers get revised
        self.serial = 0
        # every API request: (simulated time, outage mode or None, Retry-After promised)
        self.requests: list[tuple[float, str | None, float]] = []

    # ---- the FakeArxiv.faults protocol ----

    def __bool__(self) -> bool:
        return True

    def popleft(self) -> Fault | None:
        now = self.clock.monotonic() - self.t0
        self.publish_due(now)
        if self.arxiv.log[-1][1] != "/api/query":
            return None
        outage = self.outage_at(now)
        fault = self.fault(outage.mode) if outage else None
        promised = RETRY_AFTER.get(outage.mode, 0.0) if outage else 0.0
        self.requests.append((now, outage.mode if outage else None, promised))
        return fault

    # ---- the world ----

    def outage_at(self, t: float) -> Outage | None:
        return next((o for o in self.outages if o.start <= t < o.end), None)

    def fault(self, mode: str) -> Fault | None:
        if mode == "flaky":
            return self.fault(self.rng.choice(FLAKY_KINDS)) if self.rng.random() < 0.5 else None
        if mode in ("500", "503", "504"):
            return Fault("status", status=int(mode))
        if mode == "503-retry-after":
            seconds = RETRY_AFTER[mode]
            return Fault("status", status=503, headers={"Retry-After": f"{seconds:g}"})
        if mode == "429-retry-after-date":
            when = self.clock.now() + timedelta(seconds=RETRY_AFTER[mode])
            return Fault("status", status=429, headers={"Retry-After": format_datetime(when, True)})
        if mode == "502-with-feed":
            return Fault("status", status=502, send_body=True)
        if mode == "timeout":
            return Fault("delay", seconds=4 * REAL_TIMEOUT)
        if mode == "short":
            return Fault("short", keep=1)
        return Fault(mode)  # drop, truncate, garbage, empty

    def at(self, t: float) -> datetime:
        return self.base + timedelta(seconds=t)

    def new_paper(self, when: datetime) -> FakePaper:
        self.serial += 1
        n = self.serial
        return FakePaper(
            id=f"2605.{n:05d}",
            title=f"Flapping paper {n} on robust crawling",
            abstract=f"We study outage {n} and how to survive it.",
            authors=[f"Author {n % 7}", "Grace Hopper"],
            categories=["cs.LG", "stat.ML"] if n % 2 else ["cs.CV"],
            published=when,
        )

    def publish_due(self, now: float) -> None:
        """Announce every arrival due by `now` (the caller holds arxiv.lock)."""
        while self.arrivals and self.arrivals[0].at <= now:
            arrival = self.arrivals.popleft()
            when = self.at(arrival.at)
            for pid in self.paper_rng.sample(sorted(self.arxiv.papers), arrival.revisions):
                paper = self.arxiv.papers[pid]
                paper.version += 1
                paper.updated = when
                paper.title = f"{paper.title.split(' [v')[0]} [v{paper.version}]"
            for _ in range(arrival.new):
                paper = self.new_paper(when)
                self.arxiv.papers[paper.id] = paper


def stored() -> dict[str, tuple[int, str]]:
    rows = db.session.execute(select(Paper.id, Paper.version, Paper.title))
    return {pid: (version, title) for pid, version, title in rows}


def test_six_hours_of_flapping_arxiv_lose_nothing_and_stay_polite(
    app, arxiv, clock, caplog, monkeypatch
):
    """Outages of every kind for six simulated hours: no lost, stale or duplicate paper,
    never two requests within 3 s, Retry-After honoured, backoff keeps the downtime traffic
    low, and every run records how it failed instead of crashing the job."""
    retries = 5
    app.config.update(
        ARXIV_DELAY_SECONDS=MIN_GAP,
        ARXIV_TIMEOUT_SECONDS=REAL_TIMEOUT,
        ARXIV_MAX_RETRIES=retries,
        ARXIV_BACKOFF_SECONDS=5.0,  # production backoff: the waits are simulated anyway
        ARXIV_BACKOFF_MAX_SECONDS=300.0,
        CRAWL_INTERVAL_MINUTES=INTERVAL_MINUTES,
        CRAWL_PAGE_SIZE=5,
        CRAWL_EMPTY_PAGE_RETRIES=3,
        CRAWL_STOP_AFTER_KNOWN_PAGES=2,
    )
    # seeded backoff jitter: each crawl's PoliteClient takes the next seed
    seeds = iter(range(SEED, SEED + 1000))
    monkeypatch.setattr(
        polite, "random", SimpleNamespace(Random=lambda: random.Random(next(seeds)))
    )
    caplog.set_level("INFO", logger="sanity")
    total = HOURS * 3600.0
    world = FlappingArxiv(arxiv, clock, [], arrival_schedule(random.Random(SEED + 2), total), SEED)
    for i in range(30):  # the backlog
        arxiv.add(world.new_paper(world.at(-(30 - i) * 17 * 60)))
    arxiv.faults = world

    # the service was up to date when arXiv began to flap (an outage during the very first
    # crawl is test_an_outage_during_the_first_crawl_loses_no_paper)
    crawl_job(app)
    assert len(stored()) == 30

    scheduler = build_scheduler(app)
    trigger = scheduler.get_job("crawl").trigger
    fire = scheduler.get_job("crawl").next_run_time
    interval = INTERVAL_MINUTES * 60.0
    world.outages = flapping_schedule(
        random.Random(SEED), (fire - world.base).total_seconds(), interval, total
    )
    end = world.at(total)
    runs = 1
    while True:
        clock.advance((fire - clock.now()).total_seconds())
        with arxiv.lock:
            world.publish_due(clock.monotonic() - world.t0)
        final = fire > end
        if final:  # the first run after the six hours: arXiv is healthy, nothing more to come
            assert world.outage_at(clock.monotonic() - world.t0) is None
            assert not world.arrivals
        crawl_job(app)
        runs += 1
        if final:
            break
        # as APScheduler does with max_instances=1: times passed during the run are skipped
        while fire <= clock.now():
            fire = trigger.get_next_fire_time(fire, clock.now())

    # no lost paper, each at its latest version and title, no duplicate, nothing extra
    db.session.expire_all()
    expected = {p.id: (p.version, p.title) for p in arxiv.papers.values()}
    assert stored() == expected
    assert db.session.scalar(select(func.count()).select_from(Paper)) == len(expected)
    assert len(expected) > 30 + 40
    assert sum(version > 1 for version, _ in expected.values()) >= 5

    # never two requests within 3 s of each other on the simulated clock
    times = [t for t, _, _ in world.requests]
    assert len(times) == len(arxiv.api_requests())
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert min(gaps) >= MIN_GAP - EPSILON, f"two requests {min(gaps):.3f}s apart"
    # ...nor sooner than a Retry-After asked (an HTTP date has whole seconds)
    for (_, mode, promised), gap in zip(world.requests, gaps, strict=False):
        assert gap >= promised - 1, f"{mode}: came back after {gap:.1f}s, asked {promised:g}s"

    # backoff kept the downtime traffic low: on average under one request a minute while
    # arXiv was down, 20 times below the limit; and every kind of outage was met
    down = [t for t, mode, _ in world.requests if mode is not None]
    down_seconds = sum(o.end - o.start for o in world.outages)
    assert len(down) <= down_seconds / 60, (len(down), down_seconds)
    assert {mode for _, mode, _ in world.requests} == {None, *MODES}

    # each run left its row: a failure has its reason, a bounded number of requests (it
    # gives up after one fetch's retries), and the job never crashed
    db.session.expire_all()
    rows = db.session.scalars(select(CrawlRun).order_by(CrawlRun.id)).all()
    assert len(rows) == runs
    assert "scheduled crawl crashed" not in caplog.text
    assert all(r.finished is not None for r in rows)
    statuses = Counter(r.status for r in rows)
    assert set(statuses) == {"ok", "failed"} and statuses["failed"] >= 10, statuses
    # backoff grows: with full jitter each wait is at least half of 5 s * 2**attempt
    least_backoff = sum(5.0 * 2**attempt / 2 for attempt in range(retries))
    for r in rows:
        if r.status == "failed":
            assert FAILURE_REASONS.search(r.error or ""), r.error
            assert r.requests <= r.pages + 2 * (retries + 1), (r.requests, r.pages, r.error)
            if f"gave up after {retries + 1} attempts" in r.error:
                spent = (as_utc(r.finished) - as_utc(r.started)).total_seconds()
                assert spent >= least_backoff, (spent, r.error)
        else:
            assert r.error is None
    assert sum(r.requests for r in rows) == len(times) <= 8 * runs
    assert rows[-1].status == "ok" and rows[-1].resume == {"gaps": []}
    assert db.session.scalar(select(func.count()).select_from(JobLock)) == 0


# ---- two ways an outage once lost papers (found by the flapping scenarios) ----


def stored_ids() -> set[str]:
    db.session.expire_all()
    return set(db.session.scalars(select(Paper.id)))


def test_a_revision_during_a_gap_walk_loses_no_paper(app, arxiv, clock):
    """arXiv announces (and flaps) while a run walks the gap an outage left: nothing lost."""
    app.config.update(CRAWL_PAGE_SIZE=3, ARXIV_MAX_RETRIES=0)
    arxiv.add(*fake_papers(3))
    crawl(clock)
    arxiv.add(*fake_papers(30, start=BASE_TIME + timedelta(hours=2), prefix="2604"))
    arxiv.fault("delay", seconds=0)  # page 1 of the newest is fine...
    arxiv.fault("status", status=503)  # ...then arXiv goes down
    run = crawl(clock)
    assert run.status == "failed" and len(run.resume["gaps"]) == 1
    newest = max(p.updated for p in arxiv.papers.values())

    def announce(page: int) -> None:
        if page == 5:  # the gap walk's 5th page: a paper from its 1st gets a new version
            arxiv.revise("2604.00027", newest + timedelta(hours=1), title="Revised")

    run = crawl(clock, on_page=announce)
    assert run.status == "ok" and run.resume == {"gaps": []}
    crawl(clock)
    assert stored_ids() == set(arxiv.papers)


def test_an_outage_during_the_first_crawl_loses_no_paper(app, arxiv, clock):
    """A first crawl cut short by an outage is finished by the next runs."""
    app.config.update(CRAWL_PAGE_SIZE=5, ARXIV_MAX_RETRIES=0)
    arxiv.add(*fake_papers(30))
    arxiv.fault("delay", seconds=0)  # pages 1 and 2 are fine...
    arxiv.fault("delay", seconds=0)
    arxiv.fault("status", status=503)  # ...then arXiv goes down
    assert crawl(clock).status == "failed"
    assert len(stored_ids()) == 10
    for _ in range(3):
        clock.advance(3600)
        assert crawl(clock).status == "ok"
    assert stored_ids() == set(arxiv.papers)
