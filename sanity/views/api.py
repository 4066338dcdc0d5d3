"""The JSON API (read-only endpoints of the ingest issue)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, request
from sqlalchemy import text

from ..arxiv import parse_id
from ..db import db
from ..models import Paper
from ..papers import paper_dict, papers_select, stats_dict
from ..timeutil import get_clock

bp = Blueprint("api", __name__, url_prefix="/api")

MAX_PER_PAGE = 100


def int_arg(name: str, default: int, lo: int, hi: int | None = None) -> int:
    """An integer query parameter within bounds, or a 400 naming it."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        abort(400, f"{name} must be an integer")
    if value < lo or (hi is not None and value > hi):
        limit = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        abort(400, f"{name} must be {limit}")
    return value


def days_arg() -> float | None:
    """The optional `days` window (omitted means no time filter)."""
    raw = request.args.get("days")
    if raw is None or raw == "":
        return None
    try:
        days = float(raw)
    except ValueError:
        abort(400, "days must be a number")
    if not 0 < days <= 100_000:
        abort(400, "days must be a positive number")
    return days


def category_arg() -> str | None:
    category = (request.args.get("category") or "").strip()
    if len(category) > 64 or any(c.isspace() for c in category):
        abort(400, "category must be an arXiv category such as cs.LG")
    return category or None


@bp.get("/papers")
def papers():
    """Newest papers first (or random), with category and time filters."""
    sort = request.args.get("sort", "time")
    if sort not in ("time", "random"):
        abort(400, "sort must be 'time' or 'random'")
    page = int_arg("page", 1, 1, 100_000)
    per_page = int_arg("per_page", current_app.config["PAPERS_PER_PAGE"], 1, MAX_PER_PAGE)
    query = papers_select(sort, category_arg(), days_arg(), get_clock().now())
    result = db.paginate(query, page=page, per_page=per_page, error_out=False)
    return jsonify(papers=[paper_dict(p) for p in result.items], total=result.total, page=page)


@bp.get("/papers/<path:pid>")
def paper(pid: str):
    """One paper by arXiv id (any form; the version is ignored)."""
    try:
        key, _ = parse_id(pid)
    except ValueError:
        abort(400, f"not an arXiv id: {pid[:80]}")
    found = db.session.get(Paper, key)
    if found is None:
        abort(404, f"paper {key} is not in this database")
    return jsonify(paper_dict(found))


@bp.get("/stats")
def stats():
    """Paper count, newest paper, last crawl."""
    return jsonify(stats_dict())


@bp.get("/health")
def health():
    """200 when the database answers, 503 otherwise."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to reach the database means unhealthy
        db.session.rollback()
        return jsonify(status="unavailable", error=str(exc).splitlines()[0][:200]), 503
    return jsonify(status="ok")
