"""Bulk OAI-PMH harvest against the local arXiv-compatible server (3 records per page)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from sanity.db import db
from sanity.ingest.harvest import harvest
from sanity.models import CrawlRun, Paper
from sanity.timeutil import as_utc
from tests.arxiv_server import FakePaper
from tests.factories import BASE_TIME, fake_papers

pytestmark = pytest.mark.both_databases

DAY = 24 * 60  # minutes


class Interrupted(Exception):
    """Stands in for anything that kills a harvest mid-way (Ctrl-C, a crash, a lost lock)."""


@pytest.fixture
def ten(arxiv) -> list[FakePaper]:
    """Ten papers, one a day from 2026-03-02; odd ones in cs.LG + stat.ML, even ones in cs.CV."""
    papers = fake_papers(10, step_minutes=DAY)
    arxiv.add(*papers)
    return papers


def stored_ids() -> list[str]:
    return sorted(db.session.scalars(select(Paper.id)))


def paper_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Paper))


def oai_requests(arxiv) -> list[dict]:
    return [params for _, path, params in arxiv.log if path == "/oai"]


def harvest_runs() -> list[CrawlRun]:
    """Harvest runs, newest first."""
    return list(db.session.scalars(CrawlRun.latest("harvest")))


def pass_through(arxiv, requests: int) -> None:
    """Queue no-op faults so that the faults queued next hit request number `requests + 1`."""
    for _ in range(requests):
        arxiv.fault("delay", seconds=0)


def test_harvest_follows_tokens_and_stores_every_paper_once(app, arxiv, clock, ten):
    """Ten papers over four pages: every resumption token is followed, each paper stored once."""
    run = harvest(clock)
    assert (run.kind, run.status, run.error) == ("harvest", "ok", None)
    assert (run.pages, run.new, run.updated) == (4, 10, 0)
    assert run.requests == 4 and run.finished is not None
    assert run.resume["token"] is None
    assert stored_ids() == sorted(p.id for p in ten)
    sent = oai_requests(arxiv)
    assert sent[0] == {"verb": "ListRecords", "metadataPrefix": "arXiv"}
    assert [set(p) for p in sent[1:]] == [{"verb", "resumptionToken"}] * 3
    assert len({p["resumptionToken"] for p in sent[1:]}) == 3


def test_harvested_paper_fields(app, arxiv, clock, ten):
    """A harvested paper keeps its title, collapsed abstract, authors in order and categories."""
    harvest(clock)
    paper = db.session.get(Paper, "2603.00002")
    assert paper.title == "Fake paper 2 on $\\alpha$-divergences & <graphs>"
    assert paper.abstract == "We study problem 2 with care."
    assert paper.authors == ["Author 2", "Émilie du Châtelet"]
    assert (paper.primary_category, paper.categories) == ("cs.LG", "cs.LG stat.ML")
    assert paper.version == 1  # no <updated>: only v1 exists
    assert as_utc(paper.published).date() == (BASE_TIME + timedelta(days=1)).date()


def test_second_full_harvest_adds_nothing(app, arxiv, clock, ten):
    """Harvesting the same unchanged records again creates no duplicates and changes nothing."""
    harvest(clock)
    again = harvest(clock)
    assert (again.status, again.new, again.updated) == ("ok", 0, 0)
    assert paper_count() == 10
    assert oai_requests(arxiv)[4] == {"verb": "ListRecords", "metadataPrefix": "arXiv"}


def test_from_date_filters_records(app, arxiv, clock, ten):
    """--from asks the server for records changed on or after that day, and stores only those."""
    run = harvest(clock, from_date="2026-03-08")
    assert (run.status, run.new, run.pages) == ("ok", 4, 2)
    assert stored_ids() == ["2603.00007", "2603.00008", "2603.00009", "2603.00010"]
    assert oai_requests(arxiv)[0]["from"] == "2026-03-08"
    assert run.resume == {"from": "2026-03-08", "set": None, "token": None}


def test_set_filters_records(app, arxiv, clock, ten):
    """--set restricts the harvest to one OAI-PMH set (stat: the cs.LG + stat.ML papers)."""
    arxiv.add(
        FakePaper(
            id="hep-th/9901001",
            title="Anomalies",
            abstract="An old-style paper outside the set.",
            authors=["Jörg Müller"],
            categories=["hep-th"],
            published=BASE_TIME,
        )
    )
    run = harvest(clock, set_spec="stat")
    assert (run.status, run.new) == ("ok", 5)
    assert stored_ids() == [f"2603.{i:05d}" for i in (2, 4, 6, 8, 10)]
    assert oai_requests(arxiv)[0]["set"] == "stat"


def test_interrupted_harvest_resumes_from_its_token(app, arxiv, clock, ten):
    """Killed after page 2, a harvest is failed with its token kept; the next run resumes there."""

    def stop_during_page_3(run: CrawlRun) -> None:
        if run.pages == 3:
            raise Interrupted("stopped by the test")

    with pytest.raises(Interrupted):
        harvest(clock, on_page=stop_during_page_3)
    (failed,) = harvest_runs()
    page3_token = oai_requests(arxiv)[2]["resumptionToken"]
    assert failed.status == "failed" and "Interrupted: stopped by the test" in failed.error
    assert (failed.pages, failed.new) == (2, 6)  # page 3 was rolled back, not half-stored
    assert failed.resume["token"] == page3_token
    assert paper_count() == 6

    arxiv.log.clear()
    resumed = harvest(clock)
    sent = oai_requests(arxiv)
    assert sent[0] == {"verb": "ListRecords", "resumptionToken": page3_token}
    assert len(sent) == 2  # pages 3 and 4 only: it did not start over
    assert (resumed.status, resumed.new, resumed.updated) == ("ok", 4, 0)
    assert stored_ids() == sorted(p.id for p in ten)


def test_failed_fetch_keeps_token_and_next_harvest_resumes(app, arxiv, clock, ten):
    """A page whose retries run out fails the run cleanly; the rerun picks up at that page."""
    app.config["ARXIV_MAX_RETRIES"] = 2
    pass_through(arxiv, 2)
    for _ in range(3):
        arxiv.fault("status", status=503)
    run = harvest(clock)
    assert run.status == "failed"
    assert "HTTP 503" in run.error and "gave up after 3 attempts" in run.error
    assert (run.pages, run.new) == (2, 6)
    token = oai_requests(arxiv)[2]["resumptionToken"]
    assert run.resume["token"] == token

    arxiv.log.clear()
    resumed = harvest(clock)
    assert oai_requests(arxiv)[0] == {"verb": "ListRecords", "resumptionToken": token}
    assert (resumed.status, resumed.new) == ("ok", 4)
    assert paper_count() == 10
    assert stored_ids() == sorted(p.id for p in ten)


def test_resume_needs_the_same_arguments(app, arxiv, clock, ten):
    """An interrupted harvest with other --from/--set is not resumed: the new one starts fresh."""
    db.session.add(
        CrawlRun(
            kind="harvest",
            started=clock.now(),
            status="failed",
            resume={"from": "2026-01-01", "set": "cs", "token": "3|2026-01-01|cs"},
        )
    )
    db.session.commit()
    run = harvest(clock)
    assert oai_requests(arxiv)[0] == {"verb": "ListRecords", "metadataPrefix": "arXiv"}
    assert (run.status, run.new) == ("ok", 10)


def test_killed_running_harvest_is_marked_failed_and_resumed(app, arxiv, clock, ten):
    """A run left 'running' by a killed process is closed as failed and its token resumed."""
    db.session.add(
        CrawlRun(
            kind="harvest",
            started=clock.now(),
            status="running",
            resume={"from": None, "set": None, "token": "9||"},
        )
    )
    db.session.commit()
    run = harvest(clock)
    assert oai_requests(arxiv)[0] == {"verb": "ListRecords", "resumptionToken": "9||"}
    assert (run.status, run.new) == ("ok", 1)  # only the last page was left
    old = harvest_runs()[1]
    assert old.status == "failed" and "interrupted" in old.error


def test_expired_token_starts_the_harvest_over(app, arxiv, clock, ten):
    """When the stored token is rejected (badResumptionToken), the harvest restarts from scratch."""
    db.session.add(
        CrawlRun(
            kind="harvest",
            started=clock.now(),
            status="failed",
            resume={"from": None, "set": None, "token": "expired-token"},
        )
    )
    db.session.commit()
    run = harvest(clock)
    sent = oai_requests(arxiv)
    assert sent[0]["resumptionToken"] == "expired-token"
    assert sent[1] == {"verb": "ListRecords", "metadataPrefix": "arXiv"}
    assert (run.status, run.new) == ("ok", 10)


def test_retry_after_is_honoured_during_a_harvest(app, arxiv, clock, ten):
    """A 503 with Retry-After: 7 on page 2 is waited out (>= 7 s) and the same page re-asked."""
    pass_through(arxiv, 1)
    arxiv.fault("status", status=503, headers={"Retry-After": "7"})
    run = harvest(clock)
    assert (run.status, run.new) == ("ok", 10)
    assert max(clock.slept) >= 7.0
    sent = oai_requests(arxiv)
    assert len(sent) == 5 and sent[1] == sent[2]


@pytest.mark.parametrize("kind", ["truncate", "garbage"])
def test_broken_page_is_fetched_again(app, arxiv, clock, ten, kind):
    """A truncated or non-OAI (HTML) page is retried rather than stored or skipped."""
    pass_through(arxiv, 1)
    arxiv.fault(kind)
    run = harvest(clock)
    assert (run.status, run.new, run.pages) == ("ok", 10, 4)
    assert paper_count() == 10


def test_no_records_match_ends_cleanly(app, arxiv, clock, ten):
    """A harvest whose filters match nothing (noRecordsMatch) succeeds with zero papers."""
    run = harvest(clock, from_date="2031-01-01")
    assert (run.status, run.error, run.new, run.updated) == ("ok", None, 0, 0)
    assert paper_count() == 0
    assert len(oai_requests(arxiv)) == 1


def test_other_oai_errors_fail_the_run(app, arxiv, clock, ten):
    """An OAI-PMH error other than noRecordsMatch (here badArgument) fails the run with its code."""
    run = harvest(clock, from_date="2026-02-30")
    assert run.status == "failed"
    assert "badArgument" in run.error
    assert paper_count() == 0


def test_reharvest_updates_revised_paper_in_place(app, arxiv, clock, ten):
    """A record whose <updated> date moved replaces the stored paper (version unknown: None)."""
    harvest(clock)
    first_published = as_utc(db.session.get(Paper, "2603.00003").published)
    revised_on = BASE_TIME + timedelta(days=40)
    arxiv.revise("2603.00003", revised_on, title="Fake paper 3, revised")
    run = harvest(clock)
    assert (run.status, run.new, run.updated) == ("ok", 0, 1)
    db.session.expire_all()
    paper = db.session.get(Paper, "2603.00003")
    assert paper.title == "Fake paper 3, revised"
    assert paper.version is None
    assert as_utc(paper.updated).date() == revised_on.date()
    assert as_utc(paper.published) == first_published
    assert paper_count() == 10

    unchanged = harvest(clock)
    assert (unchanged.new, unchanged.updated) == (0, 0)
    arxiv.revise("2603.00003", revised_on + timedelta(days=3), title="Fake paper 3, v3")
    assert harvest(clock).updated == 1
    db.session.expire_all()
    assert db.session.get(Paper, "2603.00003").title == "Fake paper 3, v3"


# ---- command line ----


def test_cli_rejects_a_bad_from_date(runner, arxiv):
    """`sanity harvest --from bad-date` exits 2 with one clear line and contacts no server."""
    result = runner.invoke(args=["harvest", "--from", "bad-date"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert "--from" in lines[0] and "bad-date" in lines[0]
    assert "Traceback" not in result.output
    assert arxiv.log == []


def test_cli_harvest_prints_a_summary(runner, arxiv, ten):
    """`sanity harvest --set stat` harvests and ends with a one-line summary, exit code 0."""
    result = runner.invoke(args=["harvest", "--set", "stat"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == "harvest ok: 2 pages, 5 new, 0 updated"
    assert paper_count() == 5


def test_cli_failed_harvest_exits_1(app, runner, arxiv, ten):
    """A harvest that gives up exits 1 with the reason on its summary line, no traceback."""
    app.config["ARXIV_MAX_RETRIES"] = 1
    for _ in range(2):
        arxiv.fault("status", status=503)
    result = runner.invoke(args=["harvest"])
    assert result.exit_code == 1
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("harvest failed: 0 pages") and "HTTP 503" in last
    assert "Traceback" not in result.output


def test_harvest_reports_progress_in_records_of_the_complete_list(app, arxiv, clock, ten):
    """After each committed page: records so far and the server's completeListSize."""
    seen = []
    harvest(clock, progress=lambda done, total: seen.append((done, total, paper_count())))
    assert [(done, total) for done, total, _ in seen] == [(3, 10), (6, 10), (9, 10), (10, 10)]
    assert [stored for _, _, stored in seen] == [3, 6, 9, 10]  # reported once committed
