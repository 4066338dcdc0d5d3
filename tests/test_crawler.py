"""The incremental crawler against the local arXiv-compatible server."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from sanity.crawler import crawl
from sanity.db import db
from sanity.models import CrawlRun, Paper
from tests.factories import BASE_TIME, fake_papers


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
