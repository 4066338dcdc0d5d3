"""Queries over papers and crawl runs shared by the JSON API and the pages."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import abort
from sqlalchemy import Select, func, literal, select

from .arxiv import abs_url, parse_id, pdf_url
from .db import db
from .models import CrawlRun, Paper
from .timeutil import isoformat


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


def in_category(category: str):
    """Papers listing `category` among their categories (primary or cross-list)."""
    padded = literal(" ") + Paper.categories + literal(" ")
    escaped = category.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return padded.like(f"% {escaped} %", escape="\\")


def papers_select(
    sort: str = "time",
    category: str | None = None,
    days: float | None = None,
    now: datetime | None = None,
) -> Select:
    """Papers newest first (by first publication) or in random order, optionally filtered."""
    query = select(Paper)
    if category:
        query = query.where(in_category(category))
    if days is not None and now is not None:
        query = query.where(Paper.published >= now - timedelta(days=days))
    if sort == "random":
        return query.order_by(func.random())
    return query.order_by(Paper.published.desc(), Paper.id.desc())


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
