"""Atom feeds: a category's newest papers (public), a user's tag recommendations and saved
searches (behind the user's unguessable feed key, since feed readers do not log in)."""

from __future__ import annotations

import re

from flask import Blueprint, Response, abort, current_app, redirect, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from sanity import engine
from sanity.accounts import users
from sanity.accounts.tags import UnknownTag, training_sets, user_tags
from sanity.db import db
from sanity.engine.search import matches
from sanity.models import SavedSearch
from sanity.papers import Filters, papers_select
from sanity.timeutil import get_clock
from sanity.web.args import FeedArgs
from sanity.web.atom import atom
from sanity.web.declare import parser

bp = Blueprint("feeds", __name__, url_prefix="/feeds")
CATEGORY = re.compile(r"^[A-Za-z][A-Za-z\-]*(\.[A-Za-z\-]+)?$")
FEED_SIZE = 50
FEED_ARGS = FeedArgs()


def _respond(feed_id: str, title: str, papers, site_url: str) -> Response:
    base = current_app.config["BASE_URL"].rstrip("/")
    body = atom(
        feed_id, title, base + request.path, base + site_url, base, papers, get_clock().now()
    )
    return Response(body, mimetype="application/atom+xml")


def _days(default: float) -> float:
    """?days= as everywhere (sanity.web.args.Days), else `default`."""
    return parser.parse(FEED_ARGS, location="query").get("days", default)


@bp.get("/category/<category>.atom")
def category(category: str):
    """The newest papers listing a category, e.g. /feeds/category/cs.LG.atom (public)."""
    if not CATEGORY.match(category) or len(category) > 64:
        abort(400, "not an arXiv category")
    query = papers_select(filters=Filters(category=category)).limit(FEED_SIZE)
    papers = db.session.scalars(query).all()
    site = url_for("papers.index", category=category)
    return _respond(f"urn:sanity:category:{category}", f"arXiv {category}: newest", papers, site)


def _owner(key: str):
    user = users.user_for_key(key)
    if user is None:
        abort(404, "unknown feed (the key may have been revoked)")
    return user


@bp.get("/<key>/tags/<name>.atom")
def tag(key: str, name: str):
    """Recommendations for one tag (or `all`) among recent papers (?days=, default 14)."""
    user = _owner(key)
    days = _days(14)
    names = ["all"] if name == "all" else [name]
    try:
        sets = training_sets(user_tags(user), names)
    except UnknownTag:
        abort(404, f"no tag named {name[:80]!r}")
    try:
        filters = Filters(days=days, now=get_clock().now())
        result = engine.recommend(sets, limit=FEED_SIZE, filters=filters)
        papers = [p for p, _ in result.papers]
    except engine.EngineUnavailable:
        papers = []
    site = url_for("papers.index", rank="tags", tags=name)
    return _respond(f"urn:sanity:user:{user.id}:tag:{name}", f"sanity: {name}", papers, site)


@bp.get("/<key>/searches/<int:search_id>.atom")
def saved_search(key: str, search_id: int):
    """Recent matches of a saved search (?days=, default 30)."""
    user = _owner(key)
    saved = db.session.get(SavedSearch, search_id)
    if saved is None or saved.user_id != user.id:
        abort(404, "no such saved search")
    papers = matches(saved, _days(30), get_clock().now(), FEED_SIZE)
    site = url_for("papers.index", q=saved.query, category=saved.category)
    title = f"sanity search: {saved.name}"
    return _respond(f"urn:sanity:user:{user.id}:search:{saved.id}", title, papers, site)


@bp.post("/key")
@login_required
def new_key():
    """Create (or replace, revoking the old URLs) the user's feed key."""
    users.feed_key(current_user, renew=True)
    return redirect(url_for("auth.profile") + "#feeds")


@bp.post("/key/revoke")
@login_required
def revoke_key():
    """Revoke the feed key: every feed URL of the user stops working."""
    users.revoke_feed_key(current_user)
    return redirect(url_for("auth.profile") + "#feeds")


def feed_links(user) -> dict:
    """Feed URLs for the profile page."""
    if not user.feed_key:
        return {}
    base = current_app.config["BASE_URL"].rstrip("/")
    key = user.feed_key
    tags = [t.name for t in user.tags]
    searches = db.session.scalars(select(SavedSearch).where(SavedSearch.user_id == user.id))
    return {
        "all": f"{base}/feeds/{key}/tags/all.atom",
        "tags": {n: f"{base}/feeds/{key}/tags/{n}.atom" for n in sorted(tags)},
        "searches": {s.name: f"{base}/feeds/{key}/searches/{s.id}.atom" for s in searches},
    }
