"""The JSON API (read-only endpoints of the ingest issue)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, request
from flask_login import current_user
from sqlalchemy import text

from sanity import engine
from sanity.accounts.tags import TrainingSets, UnknownTag, training_sets, user_tags
from sanity.arxiv import parse_id
from sanity.db import db
from sanity.engine.search import Slice, search
from sanity.papers import Filters, get_paper, paper_dict, papers_select, stats_dict
from sanity.query import QueryError, parse_query
from sanity.timeutil import get_clock
from sanity.web import api_export, openapi
from sanity.web.security import csrf_exempt

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
    filters = Filters(days=days_arg(), now=get_clock().now(), category=category_arg())
    query = papers_select(sort, filters)
    result = db.paginate(query, page=page, per_page=per_page, error_out=False)
    return jsonify(papers=[paper_dict(p) for p in result.items], total=result.total, page=page)


def ranked_list(result: engine.Result, **extra) -> dict:
    """The list shape for a ranking (one page holding every result)."""
    papers = [paper_dict(p, score) for p, score in result.papers]
    body = {"papers": papers, "total": len(papers), "page": 1}
    if result.words is not None:
        body["words"] = result.words
    return body | extra


@bp.get("/papers/<path:pid>/similar")
def similar(pid: str):
    """Papers most similar to one paper, best first."""
    paper = get_paper(pid)
    limit = int_arg("limit", 25, 1, MAX_PER_PAGE)
    result = engine.similar_to_paper(paper, limit, Filters(days=days_arg(), now=get_clock().now()))
    return jsonify(ranked_list(result))


@bp.get("/papers/<path:pid>")
def paper(pid: str):
    """One paper by arXiv id (any form; the version is ignored)."""
    return jsonify(paper_dict(get_paper(pid)))


@bp.get("/search")
def search_papers():
    """Relevance-ranked keyword search; an arXiv id puts that paper first."""
    cfg = current_app.config
    try:
        query = parse_query(request.args.get("q", ""), int(cfg["SEARCH_MAX_QUERY_LENGTH"]))
    except QueryError as exc:
        abort(400, str(exc))
    page = int_arg("page", 1, 1, 100_000)
    per_page = int_arg("per_page", cfg["PAPERS_PER_PAGE"], 1, MAX_PER_PAGE)
    filters = Filters(days=days_arg(), now=get_clock().now(), category=category_arg())
    results, total = search(query, filters, Slice(page, per_page, int(cfg["SEARCH_TOTAL_CAP"])))
    papers = [paper_dict(p, score) for p, score in results]
    return jsonify(papers=papers, total=total, page=page)


@bp.post("/similar")
@csrf_exempt  # reads only: anyone may ask, with or without an account
def similar_text():
    """Papers most similar to a pasted abstract: {"text": "...", "limit": N}."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, 'send a JSON object like {"text": "...", "limit": 10}')
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        abort(400, "text is required")
    if len(text) > 20_000:
        abort(400, "text is too long (at most 20000 characters)")
    limit = body.get("limit", 25)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PER_PAGE:
        abort(400, f"limit must be an integer between 1 and {MAX_PER_PAGE}")
    return jsonify(ranked_list(engine.similar_to_text(text, limit)))


def id_list(name: str) -> list[str]:
    """A comma-separated list of arXiv ids (normalised), or a 400 naming the bad one."""
    raw = request.args.get(name, "")
    ids = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        try:
            ids.append(parse_id(item)[0])
        except ValueError:
            abort(400, f"{name}: not an arXiv id: {item[:80]}")
    if len(ids) > 1000:
        abort(400, f"{name}: at most 1000 ids")
    return list(dict.fromkeys(ids))


def float_arg(name: str, default: float | None, lo: float, hi: float) -> float | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        abort(400, f"{name} must be a number")
    if not lo <= value <= hi:
        abort(400, f"{name} must be between {lo:g} and {hi:g}")
    return value


@bp.get("/recommend")
def recommend():
    """Recommendations from seed papers (ids=, exclude=) or from the user's tags (tags=)."""
    options = dict(
        limit=int_arg("limit", 25, 1, MAX_PER_PAGE),
        C=float_arg("C", None, 1e-4, 1e4),
        filters=Filters(days=days_arg(), now=get_clock().now(), category=category_arg()),
        include_tagged=request.args.get("include_tagged") in ("1", "true", "yes"),
    )
    names = [n.strip() for n in request.args.get("tags", "").split(",") if n.strip()]
    if names:
        return jsonify(ranked_list(engine.recommend(_training_sets(names), **options)))
    positives = id_list("ids")
    if not positives:
        abort(400, "ids is required: comma-separated arXiv ids of papers you like (or tags=)")
    result = engine.recommend(engine.SeedPapers(positives, id_list("exclude")), **options)
    return jsonify(ranked_list(result))


def _training_sets(names: list[str]) -> TrainingSets:
    if not current_user.is_authenticated:
        abort(401, "recommendations for tags need an account: log in or send a Bearer token")
    try:
        return training_sets(user_tags(current_user), names)
    except UnknownTag as exc:
        abort(404, str(exc))


@bp.get("/openapi.json")
def openapi_spec():
    """The OpenAPI 3.1 description of this API."""
    return jsonify(openapi.spec(current_app.config["BASE_URL"], api_export.openapi_paths()))


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
