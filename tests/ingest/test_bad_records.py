"""One bad record never stops an import or a harvest for good: it is skipped and reported,
the rest goes in, and a rerun finishes (both databases, the fake arXiv server)."""

from __future__ import annotations

import dataclasses
import logging

from sqlalchemy import func, select

from sanity.db import db
from sanity.ingest import lite as import_lite
from sanity.ingest.crawler import crawl
from sanity.ingest.harvest import harvest
from sanity.models import Paper
from tests.factories import fake_papers
from tests.ingest.test_lite import lite_papers, sqlitedict


def paper_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Paper))


def test_a_huge_version_in_a_lite_import(app, tmp_path):
    papers = lite_papers()
    key = next(iter(papers))
    papers[key]["id"] = papers[key]["id"].rsplit("v", 1)[0] + "v99999999999"
    path = sqlitedict(tmp_path / "papers.db", "papers", papers)
    reports: list[str] = []
    stats = import_lite.import_papers(str(path), report=reports.append)
    assert stats.bad == 1 and "version" in reports[0]
    assert paper_count() == len(papers) - 1 == stats.new
    again = import_lite.import_papers(str(path))
    assert again.bad == 1 and again.new == 0 and paper_count() == len(papers) - 1


def test_an_unrecognised_id_in_an_oai_page(app, arxiv, clock, caplog):
    good = fake_papers(5)
    bad = dataclasses.replace(good[0], id="not/an-id!")
    arxiv.add(*good[1:], bad, good[0])
    with caplog.at_level(logging.WARNING):
        run = harvest(clock)
    assert run.status == "ok", run.error
    assert paper_count() == 5
    assert "not/an-id!" in caplog.text  # reported
    rerun = harvest(clock)
    assert rerun.status == "ok" and paper_count() == 5


def test_an_over_long_field_or_huge_version_from_the_api_crawl(app, arxiv, clock, caplog):
    papers = fake_papers(6)
    papers[1].doi = "10.1234/" + "x" * 400  # the doi column holds 255 characters
    papers[3].version = 2**40
    arxiv.add(*papers)
    with caplog.at_level(logging.WARNING):
        run = crawl(clock)
    assert run.status == "ok", run.error
    stored = set(db.session.scalars(select(Paper.id)))
    assert stored == {p.id for i, p in enumerate(papers) if i not in (1, 3)}
    assert papers[1].id in caplog.text and papers[3].id in caplog.text
    rerun = crawl(clock)
    assert rerun.status == "ok", rerun.error
