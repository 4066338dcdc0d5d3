"""The JSON API: papers, search, similar papers, recommendations, stats and health."""

from __future__ import annotations

import logging

from flask import abort, current_app, jsonify
from flask_login import current_user
from sqlalchemy import text as sql

from sanity import engine
from sanity.accounts.popular import popular_page
from sanity.accounts.tags import TrainingSets, UnknownTag, training_sets, user_tags
from sanity.db import db
from sanity.engine import embeddings
from sanity.engine.search import Slice, search
from sanity.papers import Filters, get_paper, paper_dict, papers_select, papers_total, stats_dict
from sanity.query import QueryError, parse_query
from sanity.timeutil import get_clock
from sanity.web import args, schemas
from sanity.web.declare import AUTH, Blueprint
from sanity.web.security import client_address, csrf_exempt, limiter

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__, url_prefix="/api", description="Papers, search, recommendations")


@bp.route("/papers")
@bp.query(args.PapersArgs())
@bp.answers(schemas.PaperList)
def papers(sort: str, page: int, per_page: int, days=None, category=None):
    """Newest papers first (or random, or the most often tagged by this instance's users,
    each with `count`), with category and time filters (by first publication)."""
    filters = Filters(days=days, now=get_clock().now(), category=category)
    if sort == "popular":
        rows, total = popular_page(filters, page, per_page)
        papers = [paper_dict(p) | {"count": n} for p, n in rows]
        return jsonify(papers=papers, total=total, page=page)
    query = papers_select(sort, filters)
    result = db.paginate(query, page=page, per_page=per_page, error_out=False, count=False)
    total = papers_total(filters)
    return jsonify(papers=[paper_dict(p) for p in result.items], total=total, page=page)


def ranked_list(result: engine.Result, **extra) -> dict:
    """The list shape for a ranking (one page holding every result)."""
    papers = [paper_dict(p, score) for p, score in result.papers]
    body = {"papers": papers, "total": len(papers), "page": 1}
    if result.words is not None:
        body["words"] = result.words
    return body | extra


@bp.route("/papers/<path:pid>/similar")
@bp.path(args.PaperPath())
@bp.query(args.SimilarArgs())
@bp.answers(schemas.PaperList, 404, 503)
def similar(pid: str, limit: int, days=None):
    """Papers most similar to one paper, best first, each with its score."""
    paper = get_paper(pid)
    result = engine.similar_to_paper(paper, limit, Filters(days=days, now=get_clock().now()))
    return jsonify(ranked_list(result))


@bp.route("/papers/<path:pid>")
@bp.path(args.PaperPath())
@bp.answers(schemas.Paper, 404)
def paper(pid: str):
    """One paper by arXiv id (any form; the version is ignored)."""
    return jsonify(paper_dict(get_paper(pid)))


@bp.route("/search")
@bp.query(args.SearchArgs())
@bp.answers(schemas.PaperList, 503)
def search_papers(q: str, page: int, per_page: int, mode: str, days=None, category=None):
    """Relevance-ranked keyword search; an arXiv id puts that paper first. mode=semantic
    ranks by meaning when the semantic layer is on."""
    cfg = current_app.config
    if mode == "semantic":
        return jsonify(_by_meaning(q, page, per_page, days, category))
    try:
        query = parse_query(q, int(cfg["SEARCH_MAX_QUERY_LENGTH"]))
    except QueryError as exc:
        abort(400, str(exc))
    filters = Filters(days=days, now=get_clock().now(), category=category)
    results, total = search(query, filters, Slice(page, per_page, int(cfg["SEARCH_TOTAL_CAP"])))
    papers = [paper_dict(p, score) for p, score in results]
    return jsonify(papers=papers, total=total, page=page)


def _by_meaning(q: str, page: int, per_page: int, days, category) -> dict:
    if not embeddings.enabled():
        abort(400, "mode semantic: the semantic layer is off (SEMANTIC_MODEL is not set)")
    if not q.strip():
        abort(400, "q is required for mode semantic")
    filters = Filters(days=days, now=get_clock().now(), category=category)
    cap = int(current_app.config["SEARCH_TOTAL_CAP"])
    try:
        results, total = engine.search_by_meaning(q, filters, page, per_page, cap)
    except QueryError as exc:
        abort(400, str(exc))
    except embeddings.ModelProblem as exc:
        log.error("semantic search: %s", exc)
        abort(503, "the semantic model cannot be loaded: see the server log")
    return {"papers": [paper_dict(p, s) for p, s in results], "total": total, "page": page}


def anonymous_ranking_limit():
    """Anonymous rankings are limited per client address (RANKING_LIMIT_PER_ADDRESS), one
    count shared by both routes."""
    return limiter.shared_limit(
        lambda: current_app.config["RANKING_LIMIT_PER_ADDRESS"],
        scope="anonymous-ranking",
        key_func=client_address,
        exempt_when=lambda: current_user.is_authenticated,
    )


@bp.route("/similar", methods=["POST"])
@csrf_exempt  # reads only: anyone may ask, with or without an account
@bp.body(args.SimilarText())
@bp.answers(schemas.PaperList, 413, 429, 503)
@anonymous_ranking_limit()
def similar_text(text: str, limit: int):
    """Papers most similar to a pasted abstract: {"text": "...", "limit": N}."""
    try:
        return jsonify(ranked_list(engine.similar_to_text(text, limit)))
    except embeddings.ModelProblem as exc:
        log.error("similar text: %s", exc)
        abort(503, "the semantic model cannot be loaded: see the server log")


@bp.route("/recommend")
@bp.query(args.RecommendArgs())
@bp.answers(schemas.PaperList, 401, 404, 429, 503)
@bp.doc(security=[{}, *AUTH])  # tags= needs an account, ids= does not
@anonymous_ranking_limit()
def recommend(ids, exclude, tags, limit, include_tagged, C=None, days=None, category=None):
    """Recommendations from seed papers (ids, exclude) or from your tags (tags, needs auth);
    with neither, an empty list."""
    options = dict(
        limit=limit,
        C=C,
        filters=Filters(days=days, now=get_clock().now(), category=category),
        include_tagged=include_tagged,
    )
    if tags:
        return jsonify(ranked_list(engine.recommend(_training_sets(tags), **options)))
    if not ids:
        return jsonify(papers=[], total=0, page=1)
    result = engine.recommend(engine.SeedPapers(ids, exclude), **options)
    return jsonify(ranked_list(result))


def _training_sets(names: list[str]) -> TrainingSets:
    if not current_user.is_authenticated:
        abort(401, "recommendations for tags need an account: log in or send a Bearer token")
    try:
        return training_sets(user_tags(current_user), names)
    except UnknownTag as exc:
        abort(404, str(exc))


@bp.route("/stats")
@bp.answers(schemas.Stats)
def stats():
    """Paper count, newest paper, last crawl; with the semantic layer on, how many papers have
    an embedding (null when it is off)."""
    return jsonify({**stats_dict(), "embedded": embeddings.count()})


@bp.route("/health")
@bp.answers(schemas.Health, 503)
def health():
    """200 when the database answers, 503 otherwise."""
    try:
        db.session.execute(sql("SELECT 1"))
    except Exception:  # any failure to reach the database means unhealthy; details: the log
        log.exception("health check: the database does not answer")
        db.session.rollback()
        return jsonify(status="unavailable"), 503
    return jsonify(status="ok")
