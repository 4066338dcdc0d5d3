"""Pages about papers: the list with its rank modes, one paper, recommendations."""

from __future__ import annotations

from urllib.parse import quote, quote_plus

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.exc import OperationalError

from sanity import engine
from sanity.db import db
from sanity.papers import last_crawl, stats_dict
from sanity.timeutil import get_clock
from sanity.web import list_args, listing
from sanity.web.thumbs import note_thumbnails

bp = Blueprint("papers", __name__)

SIMILAR_ON_PAGE = 10
WORDS_ON_PAGE = 30


def current_viewer() -> listing.Viewer:
    """The logged-in user (or None) with their tags, once per request."""
    # Kept in the request's environ, not `g`: an app context can outlive one request (tests).
    viewer = request.environ.get("sanity.viewer")
    if viewer is None:
        viewer = request.environ["sanity.viewer"] = listing.Viewer(logged_in_user())
    return viewer


def logged_in_user():
    """The authenticated user, or None (also when the database is down: error pages)."""
    if not hasattr(current_app, "login_manager"):
        return None
    try:
        return current_user if current_user.is_authenticated else None
    except OperationalError:
        db.session.rollback()
        return None


@bp.app_context_processor
def inject_viewer() -> dict:
    """`me` (the user or None) and `my_tags` (their tag names) for every template."""
    viewer = current_viewer()
    return {"me": viewer.user, "my_tag_names": lambda: sorted(viewer.tags, key=str.lower)}


@bp.app_template_global()
def index_url(**params) -> str:
    """`url_for('papers.index', **params)` without the routing work: a page of paper cards
    links every author and category, hundreds of URLs."""
    query = "&".join(f"{k}={quote_plus(str(v))}" for k, v in params.items() if v is not None)
    return f"{request.script_root}/?{query}" if query else f"{request.script_root}/"


@bp.app_template_global()
def paper_url(pid: str) -> str:
    """`url_for('papers.paper', pid=pid)`, cheaply (see index_url)."""
    return f"{request.script_root}/paper/{quote(pid)}"


@bp.app_template_filter("day")
def day(value) -> str:
    """A date as `2 Mar 2026`."""
    return f"{value.day} {value:%b %Y}" if value else ""


def tags_by_paper(viewer: listing.Viewer, papers) -> dict[str, list[tuple[str, bool]]]:
    """paper id -> [(tag, negative)] for the tag controls of the papers on a page, from the
    tags the request already read (no query)."""
    wanted = {p.id for p in papers}
    out: dict[str, list[tuple[str, bool]]] = {}
    for name, entry in viewer.tags.items():  # by tag name
        for negative, ids in ((False, entry["positive"]), (True, entry["negative"])):
            for pid in wanted.intersection(ids):
                out.setdefault(pid, []).append((name, negative))
    return out


@bp.get("/")
def index():
    """The paper list: newest, search, similar, recommended or random, with filters."""
    args = list_args.parse_args()
    viewer = current_viewer()
    now = get_clock().now()
    found = listing.run(args, viewer, now)
    papers = [p for p, _ in found.page.items]
    if found.reference is not None:
        papers.append(found.reference)
    show_status = args.rank == "time" and not args.days and args.page == 1
    note_thumbnails(papers)
    return render_template(
        "index.html",
        args=args,
        listing=found,
        paper_tags=tags_by_paper(viewer, papers),
        windows=list_args.WINDOWS,
        categories=listing.top_categories(),
        stats=stats_dict() if show_status else None,
        crawl=last_crawl() if show_status else None,
    )


@bp.get("/recommend")
def recommend():
    """Recommendations for the user's tags (all of them unless tags= says otherwise)."""
    # url_for reads _method, _external, _anchor and _scheme itself: they are no list parameters
    params = {k: v for k, v in request.args.items() if not k.startswith("_")}
    params["rank"] = "tags"
    params.setdefault("tags", "all")
    return redirect(url_for(".index", **params))


@bp.get("/paper/<path:pid>")
def paper(pid: str):
    """One paper: its card, its TF-IDF words and its most similar papers."""
    found = listing.get_paper(pid)
    if pid != found.id:
        return redirect(url_for(".paper", pid=found.id), 301)
    viewer = current_viewer()
    words, similar, engine_ready, by_meaning = [], [], True, frozenset()
    try:
        words = engine.paper_words(found, WORDS_ON_PAGE)
        result = engine.similar_to_paper(found, SIMILAR_ON_PAGE)
        similar, by_meaning = result.papers, result.meaning
    except engine.EngineUnavailable:
        engine_ready = False
    top = max((w["weight"] for w in words), default=1.0) or 1.0
    note_thumbnails([found] + [p for p, _ in similar])
    return render_template(
        "paper.html",
        paper=found,
        words=words,
        top_weight=top,
        similar=similar,
        similar_by_meaning=by_meaning,
        engine_ready=engine_ready,
        paper_tags=tags_by_paper(viewer, [found] + [p for p, _ in similar]),
    )
