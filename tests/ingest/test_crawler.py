"""The incremental crawler against the local arXiv-compatible server."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from sanity.db import db
from sanity.ingest.crawler import crawl
from sanity.models import CrawlRun, Paper
from tests.factories import BASE_TIME, fake_papers

pytestmark = pytest.mark.both_databases


def stored_ids() -> list[str]:
    return sorted(db.session.scalars(select(Paper.id)))


def paper_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Paper))


def test_first_crawl_stores_every_paper(app, arxiv, clock):
    """A first crawl of 250 papers pages through all of them and stores each exactly once."""
    app.config["CRAWL_PAGE_SIZE"] = 100
    arxiv.add(*fake_papers(250))
    run = crawl(clock)
    assert run.status == "ok", run.error
    assert run.new == 250 and run.updated == 0
    assert run.pages == 3
    assert stored_ids() == sorted(p.id for p in arxiv.papers.values())
    paper = db.session.get(Paper, "2603.00002")
    assert paper.title == "Fake paper 2 on $\\alpha$-divergences & <graphs>"
    assert paper.abstract == "We study problem 2 with care."
    assert paper.authors == ["Author 2", "Émilie du Châtelet"]
    assert paper.categories == "cs.LG stat.ML"
    assert all(ua.startswith("sanity/") for ua in arxiv.user_agents)


def api_calls(arxiv) -> int:
    return len(arxiv.api_requests())


def test_requests_use_the_configured_query_newest_first(app, arxiv, clock):
    """Requests carry ARXIV_QUERY, sortBy=lastUpdatedDate descending and the page size."""
    app.config["ARXIV_QUERY"] = "cat:cs.CV"
    app.config["CRAWL_PAGE_SIZE"] = 7
    arxiv.add(*fake_papers(20))
    crawl(clock)
    first = arxiv.api_requests()[0]
    assert first["search_query"] == "cat:cs.CV"
    assert first["sortBy"] == "lastUpdatedDate" and first["sortOrder"] == "descending"
    assert first["max_results"] == "7" and first["start"] == "0"
    # only the cs.CV papers (every other one) match the query
    assert paper_count() == 10


def test_incremental_crawl_stops_at_known_pages(app, arxiv, clock):
    """A second crawl fetches only the new papers and stops after N pages with nothing new."""
    app.config["CRAWL_PAGE_SIZE"] = 10
    app.config["CRAWL_STOP_AFTER_KNOWN_PAGES"] = 2
    arxiv.add(*fake_papers(100))
    crawl(clock)
    before = api_calls(arxiv)
    newer = fake_papers(15, start=BASE_TIME + timedelta(days=30), prefix="2604")
    arxiv.add(*newer)
    run = crawl(clock)
    assert run.status == "ok" and run.new == 15 and run.updated == 0
    # 2 pages hold the 15 new papers (the second also 5 known), then 2 known pages
    assert api_calls(arxiv) - before == 4
    assert paper_count() == 115


def test_new_version_updates_in_place(app, arxiv, clock):
    """A newer version replaces the stored paper in place; an unchanged one is skipped."""
    arxiv.add(*fake_papers(5))
    crawl(clock)
    arxiv.revise("2603.00003", BASE_TIME + timedelta(days=2), title="Better title v2")
    run = crawl(clock)
    assert (run.new, run.updated) == (0, 1)
    paper = db.session.get(Paper, "2603.00003")
    assert paper.version == 2 and paper.title == "Better title v2"
    assert paper_count() == 5
    run = crawl(clock)
    assert (run.new, run.updated) == (0, 0)


def test_limit_leaves_a_gap_the_next_run_closes(app, arxiv, clock):
    """A run cut short by CRAWL_MAX_RESULTS records a gap; the next run closes it first."""
    app.config["CRAWL_PAGE_SIZE"] = 20
    arxiv.add(*fake_papers(40))
    crawl(clock)
    arxiv.add(*fake_papers(130, start=BASE_TIME + timedelta(days=10), prefix="2604"))
    app.config["CRAWL_MAX_RESULTS"] = 60
    run = crawl(clock)
    assert run.status == "partial" and run.new == 60
    assert "CRAWL_MAX_RESULTS" in run.error
    assert len(run.resume["gaps"]) == 1
    app.config["CRAWL_MAX_RESULTS"] = 2000
    run = crawl(clock)
    assert run.status == "ok" and run.new == 70
    assert run.resume["gaps"] == []
    assert any("lastUpdatedDate:[" in q["search_query"] for q in arxiv.api_requests())
    assert stored_ids() == sorted(arxiv.papers)


def test_gaps_make_progress_across_many_limited_runs(app, arxiv, clock):
    """With a small limit and a big backlog, successive runs still reach every paper."""
    app.config["CRAWL_PAGE_SIZE"] = 10
    arxiv.add(*fake_papers(10))
    crawl(clock)
    arxiv.add(*fake_papers(95, start=BASE_TIME + timedelta(days=5), prefix="2604"))
    app.config["CRAWL_MAX_RESULTS"] = 30
    for _ in range(8):
        run = crawl(clock)
        if run.status == "ok" and not run.resume["gaps"]:
            break
    assert stored_ids() == sorted(arxiv.papers)


def test_first_run_limit_takes_the_newest_without_a_gap(app, arxiv, clock):
    """On an empty database the limit takes the newest papers; older history is not a gap."""
    app.config["CRAWL_PAGE_SIZE"] = 10
    app.config["CRAWL_MAX_RESULTS"] = 25
    arxiv.add(*fake_papers(60))
    run = crawl(clock)
    assert run.status == "ok" and run.new == 25
    assert run.resume["gaps"] == []
    newest = sorted(arxiv.papers.values(), key=lambda p: p.updated, reverse=True)[:25]
    assert stored_ids() == sorted(p.id for p in newest)


def test_503_with_retry_after_is_honoured(app, arxiv, clock):
    """A 503 with Retry-After waits at least that long, then the crawl succeeds."""
    arxiv.add(*fake_papers(5))
    arxiv.fault("status", status=503, headers={"Retry-After": "42"})
    run = crawl(clock)
    assert run.status == "ok" and run.new == 5
    assert max(clock.slept) >= 42
    assert api_calls(arxiv) == 2


def test_timeout_is_retried(app, arxiv, clock):
    """A response slower than the timeout is abandoned and the request retried."""
    app.config["ARXIV_TIMEOUT_SECONDS"] = 0.3
    arxiv.add(*fake_papers(5))
    arxiv.fault("delay", seconds=1.0)
    run = crawl(clock)
    assert run.status == "ok" and run.new == 5


def test_truncated_xml_is_retried(app, arxiv, clock):
    """Truncated XML counts as a failed request: retried, then parsed in full."""
    arxiv.add(*fake_papers(30))
    arxiv.fault("truncate")
    arxiv.fault("garbage")
    run = crawl(clock)
    assert run.status == "ok" and run.new == 30


def test_persistent_malformed_xml_fails_cleanly_and_resumes(app, arxiv, clock):
    """Malformed XML on every retry fails the run with a reason; nothing is lost afterwards."""
    app.config["CRAWL_PAGE_SIZE"] = 10
    arxiv.add(*fake_papers(10))
    crawl(clock)
    arxiv.add(*fake_papers(30, start=BASE_TIME + timedelta(days=3), prefix="2604"))
    retries = app.config["ARXIV_MAX_RETRIES"]
    crawl_calls = api_calls(arxiv)
    # page 1 is fine, page 2 is malformed on every attempt
    original = arxiv.atom
    calls = {"n": 0}

    def flaky(params):
        calls["n"] += 1
        body = original(params)
        return body if calls["n"] == 1 else body[:200]

    arxiv.atom = flaky
    run = crawl(clock)
    assert run.status == "failed" and "malformed" in run.error
    assert run.new == 10 and api_calls(arxiv) - crawl_calls == 1 + retries + 1
    arxiv.atom = original
    run = crawl(clock)
    assert run.status == "ok"
    assert stored_ids() == sorted(arxiv.papers)


def test_empty_page_quirk_is_retried_then_given_up(app, arxiv, clock):
    """Empty pages although totalResults says more: a few retries, then a recorded stop."""
    app.config["CRAWL_PAGE_SIZE"] = 10
    app.config["CRAWL_EMPTY_PAGE_RETRIES"] = 2
    arxiv.add(*fake_papers(10))
    crawl(clock)
    arxiv.add(*fake_papers(25, start=BASE_TIME + timedelta(days=3), prefix="2604"))
    arxiv.fault("empty")  # page 1: one empty answer, then fine
    before = api_calls(arxiv)
    original = arxiv.atom
    calls = {"n": 0}

    def quirky(params):
        calls["n"] += 1
        body = original(params)
        if params.get("start") == "10":
            return body.split("  <entry>")[0] + "</feed>\n"
        return body  # page 2 (start=10) is empty on every attempt

    arxiv.atom = quirky
    run = crawl(clock)
    assert run.status == "failed" and "empty pages" in run.error
    # page 1: 1 empty + 1 good; page 2: 1 + 2 retries, then stop (no endless loop)
    assert api_calls(arxiv) - before == 2 + 3
    assert run.new == 10
    arxiv.atom = original
    run = crawl(clock)
    assert run.status == "ok"
    assert stored_ids() == sorted(arxiv.papers)


def test_short_page_is_accepted_and_paging_continues(app, arxiv, clock):
    """A page shorter than asked (after retries) is kept and the next page starts after it."""
    app.config["CRAWL_PAGE_SIZE"] = 10
    app.config["CRAWL_EMPTY_PAGE_RETRIES"] = 1
    arxiv.add(*fake_papers(25))
    arxiv.fault("short", keep=4)
    arxiv.fault("short", keep=4)
    run = crawl(clock)
    assert run.status == "ok" and run.new == 25
    starts = [q["start"] for q in arxiv.api_requests()]
    assert starts[:4] == ["0", "0", "4", "14"]


def test_duplicates_across_pages_are_stored_once(app, arxiv, clock):
    """Papers arriving mid-crawl shift pages; repeated entries are not stored twice."""
    app.config["CRAWL_PAGE_SIZE"] = 10
    arxiv.add(*fake_papers(30))
    late = fake_papers(3, start=BASE_TIME + timedelta(days=9), prefix="2605")

    def arrive(page: int) -> None:
        if page == 1:
            arxiv.add(*late)

    run = crawl(clock, on_page=arrive)
    assert run.status == "ok"
    assert run.new == 30
    assert paper_count() == 30
    run = crawl(clock)
    assert run.new == 3
    assert stored_ids() == sorted(arxiv.papers)


def test_crash_mid_page_rolls_back_and_rerun_completes(app, arxiv, clock):
    """An exception before a page commits leaves no half page; the rerun gets the exact set."""
    app.config["CRAWL_PAGE_SIZE"] = 10
    arxiv.add(*fake_papers(10))
    crawl(clock)
    arxiv.add(*fake_papers(35, start=BASE_TIME + timedelta(days=4), prefix="2604"))

    def boom(page: int) -> None:
        if page == 2:
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        crawl(clock, on_page=boom)
    assert paper_count() == 20  # page 1 committed, page 2 rolled back
    failed = db.session.scalars(CrawlRun.latest()).first()
    assert failed.status == "failed" and "power cut" in failed.error
    run = crawl(clock)
    assert run.status == "ok"
    assert stored_ids() == sorted(arxiv.papers)
    assert paper_count() == 45


def test_api_error_feed_fails_with_arxivs_message(app, arxiv, clock):
    """A 400 error feed from arXiv is not retried and its message is recorded."""
    arxiv.add(*fake_papers(3))
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom" '
        'xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/"><title>arXiv Search Results'
        "</title><opensearch:totalResults>1</opensearch:totalResults><entry>"
        "<id>https://arxiv.org/api/errors#bad_query</id><title>Error</title>"
        "<summary>malformed query near cat:</summary></entry></feed>"
    )
    arxiv.atom = lambda params: body
    arxiv.fault("status", status=400, send_body=True)
    run = crawl(clock)
    assert run.status == "failed"
    assert run.error == "malformed query near cat:"
    assert api_calls(arxiv) == 1


def test_unreachable_server_fails_with_a_clear_error(app, clock):
    """A refused connection is retried a bounded number of times, then recorded."""
    app.config["ARXIV_API_URL"] = "http://127.0.0.1:9/api/query"
    app.config["ARXIV_MAX_RETRIES"] = 2
    run = crawl(clock)
    assert run.status == "failed"
    assert "could not reach 127.0.0.1" in run.error
    assert run.requests == 3
