"""Saved searches in the JSON API and their page: keep a query, see its new matches."""

from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from sanity.accounts.searches import SearchError, save_search, saved_searches
from sanity.db import db
from sanity.engine.search import new_matches
from sanity.models import SavedSearch
from sanity.papers import paper_dict
from sanity.timeutil import get_clock, isoformat

bp = Blueprint("searches", __name__)


def _dict(saved: SavedSearch, new: int | None = None) -> dict:
    data = {
        "id": saved.id,
        "name": saved.name,
        "q": saved.query,
        "category": saved.category,
        "created": isoformat(saved.created),
        "seen": isoformat(saved.seen),
    }
    if new is not None:
        data["new"] = new
    return data


def _mine(search_id: int) -> SavedSearch:
    saved = db.session.get(SavedSearch, search_id)
    if saved is None or saved.user_id != current_user.id:
        abort(404, "no such saved search")
    return saved


@bp.get("/api/searches")
@login_required
def list_searches():
    """The user's saved searches with how many new matches each has."""
    items = [_dict(s, len(new_matches(s))) for s in saved_searches(current_user)]
    return jsonify(searches=items)


@bp.post("/api/searches")
@login_required
def create():
    """Save a search: {"name": "...", "q": "...", "category": "cs.LG"} (409 if the name exists)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("q"), str):
        abort(400, 'send {"name": "...", "q": "search words", "category": null}')
    category = body.get("category")
    if category is not None and (not isinstance(category, str) or len(category) > 64):
        abort(400, "category must be an arXiv category such as cs.LG")
    try:
        saved = save_search(
            current_user, str(body.get("name") or ""), body["q"], category, get_clock().now()
        )
    except SearchError as exc:
        abort(400, str(exc))
    except LookupError as exc:
        abort(409, str(exc))
    return jsonify(_dict(saved, 0)), 201


@bp.delete("/api/searches/<int:search_id>")
@login_required
def delete(search_id: int):
    """Forget a saved search."""
    db.session.delete(_mine(search_id))
    db.session.commit()
    return jsonify(searches=[_dict(s) for s in saved_searches(current_user)])


@bp.get("/api/searches/<int:search_id>/papers")
@login_required
def new_papers(search_id: int):
    """Matches added since the search was last marked seen, newest first."""
    papers = [paper_dict(p) for p in new_matches(_mine(search_id))]
    return jsonify(papers=papers, total=len(papers), page=1)


@bp.post("/api/searches/<int:search_id>/seen")
@login_required
def mark_seen(search_id: int):
    """Mark the current matches as seen (they stop counting as new)."""
    saved = _mine(search_id)
    saved.seen = get_clock().now()
    db.session.commit()
    return jsonify(_dict(saved, 0))


@bp.get("/searches")
@login_required
def page():
    """Saved searches with their new matches since the last visit."""
    items = [(s, new_matches(s, 25)) for s in saved_searches(current_user)]
    return render_template("searches.html", items=items)


@bp.post("/searches/<int:search_id>/seen")
@login_required
def page_seen(search_id: int):
    """Form version of "mark as seen" for the page."""
    mark_seen(search_id)
    return redirect(url_for("searches.page"))


@bp.post("/searches")
@login_required
def page_save():
    """Form version of "save this search" (from a search results page)."""
    q = request.form.get("q", "")
    try:
        save_search(current_user, request.form.get("name", ""), q,
                          request.form.get("category") or None, get_clock().now())  # fmt: skip
        flash("Search saved: new matches appear here, in your digest and in its feed.", "ok")
    except SearchError as exc:
        flash(str(exc), "error")
    except LookupError as exc:
        flash(str(exc), "error")
    return redirect(url_for("searches.page"))
