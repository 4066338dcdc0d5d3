"""The paper list: how each rank mode fills one page of the state `list_args` reads from the
URL."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from flask import abort, current_app
from sqlalchemy import func, select

from sanity import engine
from sanity.accounts.popular import popular_page
from sanity.accounts.tags import TagDict, UnknownTag, tagged_ids, training_sets, user_tags
from sanity.db import db
from sanity.engine import embeddings
from sanity.engine.search import Slice, search
from sanity.models import Paper
from sanity.papers import Filters, get_paper, papers_select
from sanity.query import QueryError, parse_query
from sanity.web.list_args import ListArgs, window_days

RANKED_LIMIT = 200  # similar/recommended papers fetched at once; pages slice them
MAX_RANKED = 1000


@dataclass
class Page:
    """One page of a list: (paper, score or None) items and what is needed to page through."""

    items: list[tuple[Paper, float | None]]
    page: int
    per_page: int
    total: int
    capped: bool = False

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def start(self) -> int:
        return (self.page - 1) * self.per_page + 1


@dataclass
class Listing:
    """What the list page shows: a page of papers and the notes around it."""

    args: ListArgs
    viewer: Viewer
    page: Page
    notice: str | None = None  # e.g. "no papers in the window: showing the newest"
    problem: str | None = None  # why nothing can be shown (log in, no tags, no features)
    reference: Paper | None = None  # the paper of rank=similar
    words: list[dict] | None = None  # the model's words for rank=tags
    chosen_tags: list[str] = field(default_factory=list)

    @property
    def positive_words(self) -> list[dict]:
        return [w for w in self.words or [] if w["weight"] > 0]

    @property
    def negative_words(self) -> list[dict]:
        return sorted((w for w in self.words or [] if w["weight"] < 0), key=lambda w: w["weight"])


class Viewer:
    """The logged-in user and their tags, read at most once per request."""

    def __init__(self, user) -> None:
        self.user = user
        self._tags: TagDict | None = None

    @property
    def tags(self) -> TagDict:
        if self._tags is None:
            self._tags = user_tags(self.user) if self.user is not None else {}
        return self._tags

    def tagged(self) -> frozenset[str]:
        return frozenset(tagged_ids(self.tags))


def per_page() -> int:
    return int(current_app.config["PAPERS_PER_PAGE"])


def _sliced(items: list, args: ListArgs, capped: bool = False) -> Page:
    size = per_page()
    chunk = items[(args.page - 1) * size : args.page * size]
    return Page(chunk, args.page, size, len(items), capped)


def _ranked_limit(args: ListArgs) -> int:
    return min(MAX_RANKED, max(RANKED_LIMIT, args.page * per_page()))


def list_time(out: Listing, filters: Filters) -> Page | None:
    """Newest first (or random), optionally without the papers the user already tagged."""
    args = out.args
    query = papers_select(args.rank, filters)
    found = db.paginate(query, page=args.page, per_page=per_page(), error_out=False)
    return Page([(p, None) for p in found.items], args.page, per_page(), found.total or 0)


def list_popular(out: Listing, filters: Filters) -> Page | None:
    """The papers most often tagged by this instance's users; the count is the score."""
    args = out.args
    rows, total = popular_page(filters, args.page, per_page())
    return Page(rows, args.page, per_page(), total)


def list_search(out: Listing, filters: Filters) -> Page | None:
    """Relevance-ranked keyword search (an arXiv id puts that paper first)."""
    args, cfg = out.args, current_app.config
    if not args.q:
        out.notice = "Type words, authors or an arXiv id into the search box."
        return list_time(out, filters)
    try:
        query = parse_query(args.q, int(cfg["SEARCH_MAX_QUERY_LENGTH"]))
    except QueryError as exc:
        abort(400, str(exc))
    cap = int(cfg["SEARCH_TOTAL_CAP"])
    results, total = search(query, filters, Slice(args.page, per_page(), cap))
    return Page(results, args.page, per_page(), total, capped=total >= cap)


def list_similar(out: Listing, filters: Filters) -> Page | None:
    """Papers most similar to the paper `pid`, best first."""
    args = out.args
    if not args.pid:
        abort(400, "rank=similar needs pid, the arXiv id of a paper")
    out.reference = get_paper(args.pid)
    result = engine.similar_to_paper(out.reference, _ranked_limit(args), filters)
    return _sliced(result.papers, args)


def list_tags(out: Listing, filters: Filters) -> Page | None:
    """SVM recommendations for one, several or all of the user's tags."""
    args = out.args
    if out.viewer.user is None:
        out.problem = "login"
        return None
    try:
        sets = training_sets(out.viewer.tags, args.tags)
    except UnknownTag:
        missing = next(n for n in args.tags if n not in out.viewer.tags)
        out.problem = f"You have no tag named “{missing}”."
        return None
    out.chosen_tags = sets.names
    if not sets.positive:
        out.problem = "notags"
        return None
    result = engine.recommend(
        sets, limit=_ranked_limit(args), C=args.C, filters=filters.but(exclude=frozenset())
    )
    out.words = result.words
    return _sliced(result.papers, args)


def list_semantic(out: Listing, filters: Filters) -> Page | None:
    """Papers nearest in meaning to the query sentence (the semantic layer)."""
    args, cfg = out.args, current_app.config
    if not embeddings.enabled():
        abort(400, "rank semantic: the semantic layer is off (SEMANTIC_MODEL is not set)")
    if not args.q:
        out.notice = "Type a sentence into the search box to find papers by meaning."
        return list_time(out, filters)
    cap = int(cfg["SEARCH_TOTAL_CAP"])
    try:
        results, total = engine.search_by_meaning(args.q, filters, args.page, per_page(), cap)
    except QueryError as exc:
        abort(400, str(exc))
    except embeddings.ModelProblem:
        abort(503, "the semantic model cannot be loaded: see the server log")
    return Page(results, args.page, per_page(), total, capped=total >= cap)


MODES = {
    "time": list_time,
    "random": list_time,
    "search": list_search,
    "similar": list_similar,
    "tags": list_tags,
    "popular": list_popular,
    "semantic": list_semantic,
}


def run(args: ListArgs, viewer: Viewer, now: datetime) -> Listing:
    """Fill the page for the chosen rank mode; an empty time window falls back to any time."""
    out = Listing(args, viewer, Page([], args.page, per_page(), 0))
    mode = MODES[args.rank]
    hidden = viewer.tagged() if args.hide and viewer.user is not None else frozenset()
    try:
        days = window_days(args.days, now)
        filters = Filters(days=days, now=now, category=args.category or None, exclude=hidden)
        found = mode(out, filters)
        if found is not None and found.total == 0 and days is not None:
            ranked = ("search", "similar", "tags", "popular", "semantic")
            what = "results" if args.rank in ranked else "papers"
            instead = "results from any time" if what == "results" else "the newest papers"
            out.notice = f"No {what} {args.window_phrase}. Showing {instead} instead."
            found = mode(out, filters.but(days=None))
        out.page = found or out.page
    except engine.EngineUnavailable:
        out.problem = "engine"
    return out


def top_categories(limit: int = 40, ttl: float = 600.0) -> list[str]:
    """The most common primary categories (cached per app for `ttl` seconds)."""
    cache = current_app.extensions.setdefault("sanity.categories", {})
    if cache.get("expires", 0) > time.monotonic():
        return cache["value"]
    count = func.count().label("n")
    rows = db.session.execute(
        select(Paper.primary_category, count)
        .where(Paper.primary_category != "")
        .group_by(Paper.primary_category)
        .order_by(count.desc())
        .limit(limit)
    )
    value = sorted(name for name, _ in rows)
    cache.update(value=value, expires=time.monotonic() + ttl)
    return value
