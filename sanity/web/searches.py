"""Saved searches in the JSON API (api_bp) and their page (bp): keep a query, see its new
matches."""

from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from sanity.accounts.searches import SearchError, save_search, saved_searches
from sanity.db import db
from sanity.engine.search import new_matches
from sanity.models import SavedSearch
from sanity.papers import paper_dict
from sanity.timeutil import get_clock, isoformat
from sanity.web import args, schemas
from sanity.web.declare import Blueprint as ApiBlueprint

bp = Blueprint("searches", __name__)
api_bp = ApiBlueprint("api_searches", __name__, url_prefix="/api", description="Saved searches")


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


@api_bp.route("/searches")
@api_bp.login_required
@api_bp.answers(schemas.SavedSearches)
def list_searches():
    """The user's saved searches with how many new matches each has."""
    items = [_dict(s, len(new_matches(s))) for s in saved_searches(current_user)]
    return jsonify(searches=items)


@api_bp.route("/searches", methods=["POST"])
@api_bp.login_required
@api_bp.body(args.NewSearch())
@api_bp.answers(schemas.SavedSearch, 409, 413, status=201)
def create(q: str, name: str | None = None, category: str | None = None):
    """Save a search: {"name": "...", "q": "...", "category": "cs.LG"} (409 if the name exists)."""
    try:
        saved = save_search(current_user, name or "", q, category, get_clock().now())
    except SearchError as exc:
        abort(400, str(exc))
    except LookupError as exc:
        abort(409, str(exc))
    return jsonify(_dict(saved, 0)), 201


@api_bp.route("/searches/<int:search_id>", methods=["DELETE"])
@api_bp.login_required
@api_bp.path(args.SearchPath())
@api_bp.answers(schemas.SavedSearches, 404)
def delete(search_id: int):
    """Forget a saved search."""
    db.session.delete(_mine(search_id))
    db.session.commit()
    return jsonify(searches=[_dict(s) for s in saved_searches(current_user)])


@api_bp.route("/searches/<int:search_id>/papers")
@api_bp.login_required
@api_bp.path(args.SearchPath())
@api_bp.answers(schemas.PaperList, 404)
def new_papers(search_id: int):
    """Matches added since the search was last marked seen, newest first."""
    papers = [paper_dict(p) for p in new_matches(_mine(search_id))]
    return jsonify(papers=papers, total=len(papers), page=1)


def _seen(saved: SavedSearch) -> SavedSearch:
    saved.seen = get_clock().now()
    db.session.commit()
    return saved


@api_bp.route("/searches/<int:search_id>/seen", methods=["POST"])
@api_bp.login_required
@api_bp.path(args.SearchPath())
@api_bp.answers(schemas.SavedSearch, 404)
def mark_seen(search_id: int):
    """Mark the current matches as seen (they stop counting as new)."""
    return jsonify(_dict(_seen(_mine(search_id)), 0))


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
    _seen(_mine(search_id))
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
