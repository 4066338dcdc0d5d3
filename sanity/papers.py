"""Queries over papers and crawl runs shared by the JSON API and the pages."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from flask import abort
from sqlalchemy import Select, func, literal, literal_column, select

from sanity.arxiv import abs_url, parse_id, pdf_url
from sanity.db import chunked, db, is_sqlite
from sanity.models import CrawlRun, Paper
from sanity.timeutil import isoformat


def get_paper(pid: str) -> Paper:
    """The paper for an id in any form: 400 if it is not an arXiv id, 404 if unknown."""
    try:
        key, _ = parse_id(pid)
    except ValueError:
        abort(400, f"not an arXiv id: {pid[:80]}")
    found = db.session.get(Paper, key)
    if found is None:
        abort(404, f"paper {key} is not in this database")
    return found


def paper_dict(paper: Paper, score: float | None = None) -> dict:
    """A paper as the JSON API shows it."""
    data = {
        "id": paper.id,
        "version": paper.version,
        "title": paper.title,
        "abstract": paper.abstract,
        "authors": list(paper.authors or []),
        "categories": paper.category_list,
        "published": isoformat(paper.published),
        "updated": isoformat(paper.updated),
        "url": abs_url(paper.id),
        "pdf_url": pdf_url(paper.id, paper.version),
        "comment": paper.comment,
        "journal_ref": paper.journal_ref,
        "doi": paper.doi,
        "license": paper.license,
    }
    if score is not None:
        data["score"] = score
    return data


def known_paper_ids(ids: set[str]) -> set[str]:
    """The ids among `ids` that are papers in this database."""
    found: set[str] = set()
    for chunk in chunked(sorted(ids)):
        found.update(db.session.scalars(select(Paper.id).where(Paper.id.in_(chunk))))
    return found


def in_category(category: str):
    """Papers listing `category` among their categories (primary or cross-list)."""
    padded = literal(" ") + Paper.categories + literal(" ")
    escaped = category.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return padded.like(f"% {escaped} %", escape="\\")


NEWEST_FIRST = (Paper.published.desc(), Paper.id.desc())


@dataclass(frozen=True)
class Filters:
    """Which papers a list may show: published within `days` before `now`, listing
    `category`, not among `exclude`. Applied in the query (or the engine's row mask) before a
    page is cut, so that every page is full and totals are right."""

    days: float | None = None
    now: datetime | None = None
    category: str | None = None
    exclude: frozenset[str] = frozenset()

    @property
    def since(self) -> datetime | None:
        if self.days is None or self.now is None:
            return None
        return self.now - timedelta(days=self.days)

    def apply(self, query: Select) -> Select:
        """`query` (over papers) with these filters as WHERE clauses."""
        if self.category:
            query = query.where(in_category(self.category))
        if self.since is not None:
            query = query.where(Paper.published >= self.since)
        if self.exclude:
            query = query.where(Paper.id.not_in(sorted(self.exclude)))
        return query

    def but(self, **changes) -> Filters:
        """A copy with some fields changed."""
        return replace(self, **changes)


NO_FILTERS = Filters()


def papers_select(sort: str = "time", filters: Filters = NO_FILTERS) -> Select:
    """Papers newest first (by first publication) or in random order, filtered."""
    query = filters.apply(select(Paper))
    if sort == "random":
        return query.order_by(func.random())
    return query.order_by(*NEWEST_FIRST)


TOTAL_MAX_AGE = 60.0  # seconds an unfiltered total may be reused while no paper was added
_total: dict[str, tuple] = {}  # database URL -> (newest marker, when counted, count)


def papers_total(filters: Filters = NO_FILTERS) -> int:
    """How many papers `filters` let through. Counting a million rows takes SQLite tens of
    milliseconds (PostgreSQL about 50), so the unfiltered count is kept per process and
    recounted when a paper was added (a higher SQLite rowid, a later PostgreSQL `added` or
    more papers at the latest; papers are never deleted) or after TOTAL_MAX_AGE seconds."""
    count = select(func.count()).select_from(filters.apply(select(Paper.id)).subquery())
    if filters.but(now=None) != NO_FILTERS:
        return db.session.scalar(count) or 0
    marker = literal_column("papers.rowid") if is_sqlite() else Paper.added
    newest = (db.session.scalar(select(func.max(marker)).select_from(Paper)),)
    if not is_sqlite():  # papers added at the same instant: how many (the index has them)
        newest += (db.session.scalar(select(func.count()).where(Paper.added == newest[0])),)
    key = str(db.engine.url)
    held = _total.get(key)
    if held and held[0] == newest and time.monotonic() - held[1] < TOTAL_MAX_AGE:
        return held[2]
    total = db.session.scalar(count) or 0
    _total[key] = (newest, time.monotonic(), total)
    return total


def last_crawl() -> CrawlRun | None:
    """The newest crawl or harvest run."""
    return db.session.scalars(select(CrawlRun).order_by(CrawlRun.id.desc()).limit(1)).first()


def crawl_dict(run: CrawlRun | None) -> dict | None:
    if run is None:
        return None
    return {
        "id": run.id,
        "kind": run.kind,
        "time": isoformat(run.finished or run.started),
        "started": isoformat(run.started),
        "finished": isoformat(run.finished),
        "status": run.status,
        "new": run.new,
        "new_papers": run.new,
        "updated": run.updated,
        "pages": run.pages,
        "requests": run.requests,
        "error": run.error,
    }


def stats_dict() -> dict:
    """Counts for /api/stats and the status line."""
    count = db.session.scalar(select(func.count()).select_from(Paper)) or 0
    newest = db.session.scalars(papers_select().limit(1)).first()
    return {
        "papers": count,
        "newest": isoformat(newest.published) if newest else None,
        "newest_paper": paper_dict(newest) if newest else None,
        "last_crawl": crawl_dict(last_crawl()),
    }
