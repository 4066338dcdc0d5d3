"""The user's tags, the service's statistics and the about page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import partial

from flask import Blueprint, abort, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select

from sanity import engine
from sanity.db import db, is_sqlite
from sanity.engine import embeddings
from sanity.models import CrawlRun, Paper, Tag, TagPaper
from sanity.papers import stats_dict
from sanity.timeutil import as_utc, get_clock
from sanity.web.args import TagPageArgs
from sanity.web.declare import parser
from sanity.web.listing import per_page
from sanity.web.papers import current_viewer, tags_by_paper
from sanity.web.thumbs import note_thumbnails

bp = Blueprint("pages", __name__)

CHART_DAYS = 90
RECENT_CRAWLS = 10
TAG_PAGE_ARGS = TagPageArgs()


@bp.get("/tags")
@login_required
def tags():
    """The user's tags with counts: open, recommend, rename, delete."""
    mine = current_viewer().tags
    rows = [
        {"name": name, "positive": len(entry["positive"]), "negative": len(entry["negative"])}
        for name, entry in sorted(mine.items(), key=lambda item: item[0].lower())
    ]
    return render_template("tags.html", rows=rows)


@bp.get("/tags/<name>")
@login_required
def tag(name: str):
    """The papers in one of the user's tags, most recently tagged first."""
    found = db.session.scalar(select(Tag).where(Tag.user_id == current_user.id, Tag.name == name))
    if found is None:
        abort(404, f"You have no tag named “{name[:80]}”.")
    values = parser.parse(TAG_PAGE_ARGS, location="query")
    negative, page = values["negative"], values["page"]
    query = (
        select(Paper)
        .join(TagPaper, TagPaper.paper_id == Paper.id)
        .where(TagPaper.tag_id == found.id, TagPaper.negative.is_(negative))
        .order_by(TagPaper.added.desc(), Paper.id)
    )
    listing = db.paginate(query, page=page, per_page=per_page(), error_out=False)
    counts = current_viewer().tags.get(found.name, {"positive": [], "negative": []})
    note_thumbnails(listing.items)
    return render_template(
        "tag.html",
        tag=found,
        negative=negative,
        listing=listing,
        counts={k: len(v) for k, v in counts.items()},
        paper_tags=tags_by_paper(current_viewer(), listing.items),
        page_url=partial(url_for, "pages.tag", name=found.name, negative="1" if negative else None),
    )


@dataclass
class Bar:
    day: date
    count: int
    x: float
    y: float
    height: float


def papers_per_day(end: date, days: int) -> list[tuple[date, int]]:
    """Papers first published on each UTC day of the `days` days up to `end`."""
    start = end - timedelta(days=days - 1)
    lo = datetime.combine(start, time(), UTC)
    hi = datetime.combine(end + timedelta(days=1), time(), UTC)
    published = Paper.published
    if not is_sqlite():
        published = func.timezone("UTC", Paper.published)
    day = func.date(published).label("day")
    rows = db.session.execute(
        select(day, func.count()).where(Paper.published >= lo, Paper.published < hi).group_by(day)
    )
    counts = {str(d)[:10]: n for d, n in rows}
    return [
        (start + timedelta(days=i), counts.get((start + timedelta(days=i)).isoformat(), 0))
        for i in range(days)
    ]


def chart(series: list[tuple[date, int]], width: int = 720, height: int = 180) -> dict:
    """Geometry of a bar chart in SVG user units (the template only draws it)."""
    top = max((n for _, n in series), default=0) or 1
    step = width / max(1, len(series))
    bars = [
        Bar(
            d,
            n,
            round(i * step, 2),
            round(height - n / top * height, 2),
            round(n / top * height, 2),
        )
        for i, (d, n) in enumerate(series)
    ]
    months = [(b.x, f"{b.day:%b} {b.day.day}") for b in bars if b.day.day == 1]
    return {
        "bars": bars,
        "bar_width": round(step * 0.8, 2),
        "width": width,
        "height": height,
        "top": top,
        "mid": f"{top / 2:.0f}" if top >= 10 else f"{top / 2:g}",
        "months": months,
        "total": sum(n for _, n in series),
    }


def chart_end(now: datetime) -> date:
    """Today, or the newest paper's day when the database has nothing recent."""
    newest = as_utc(db.session.scalar(select(func.max(Paper.published))))
    today = now.date()
    if newest is None or newest.date() >= today - timedelta(days=CHART_DAYS // 3):
        return today
    return newest.date()


@bp.get("/stats")
def stats():
    """Papers in the database, papers per day as an SVG chart, and the last crawls."""
    now = get_clock().now()
    crawls = db.session.scalars(select(CrawlRun).order_by(CrawlRun.id.desc()).limit(RECENT_CRAWLS))
    try:
        features = engine.current()
    except engine.EngineUnavailable:
        features = None
    return render_template(
        "stats.html",
        stats=stats_dict(),
        chart=chart(papers_per_day(chart_end(now), CHART_DAYS)),
        crawls=list(crawls),
        features=features,
        embedded=embeddings.count(),
        left_out=embeddings.left_out(),
    )


@bp.get("/about")
def about():
    """What the service does and how its recommendations work."""
    return render_template("about.html")
