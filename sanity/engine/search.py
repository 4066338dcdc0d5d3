"""Keyword search behind one small interface: SQLite FTS5 or PostgreSQL full text.

User input never reaches the index's query syntax: `sanity.query` cuts it into plain
alphanumeric words and quoted phrases, and the query is built from those alone.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Select, column, func, literal, literal_column, select, table, text

from sanity import fulltext
from sanity.db import db, is_sqlite
from sanity.engine import pgsearch
from sanity.models import Paper, SavedSearch
from sanity.papers import NEWEST_FIRST, NO_FILTERS, Filters, in_category
from sanity.query import WORD, Query, parse_query
from sanity.timeutil import as_utc

# ---- SQLite FTS5 ----

fts = table("papers_fts", column("rowid"))


def _fts_match(query: Query, any_word: bool = False) -> str:
    quoted = [f'"{w}"' for w in query.words] + ['"' + " ".join(p) + '"' for p in query.phrases]
    return (" OR " if any_word else " ").join(quoted)


def _sqlite_select(query: Query, any_word: bool, floor: int = 0) -> tuple[Select, object]:
    # bm25 is lower-is-better; title matches weigh 10x, authors 5x an abstract match
    score = -literal_column("bm25(papers_fts, 10.0, 1.0, 5.0)")
    base = (
        select(Paper)
        .join(fts, literal_column("papers_fts.rowid") == literal_column("papers.rowid"))
        .where(literal_column("papers_fts").op("MATCH")(_fts_match(query, any_word)))
    )
    if floor:
        base = base.where(literal_column("papers_fts.rowid") >= floor)
    return base, score


def _is_category(token: str) -> bool:
    found = select(Paper.id).where(Paper.primary_category == token).limit(1)
    return db.session.scalar(found) is not None


def query_categories(query: Query) -> list[str]:
    """The query's tokens that are categories of this instance's papers (cs.LG in a query
    filters by category; other dotted tokens are words)."""
    return [token for token in query.maybe_categories if _is_category(token)]


@dataclass(frozen=True)
class Slice:
    """Which page of results, and where counting stops."""

    page: int = 1
    per_page: int = 25
    cap: int = 1000


FIRST_PAGE = Slice()


def search(
    query: Query, filters: Filters = NO_FILTERS, page: Slice = FIRST_PAGE
) -> tuple[list[tuple[Paper, float]], int]:
    """Rank papers for a parsed query within `filters`: ([(paper, score)], total capped).

    An arXiv id in the query puts that paper first. If requiring every word finds nothing, the
    search falls back to any word. Filters apply in the query, before the page is cut.
    """
    first = db.session.get(Paper, query.paper_id) if query.paper_id else None
    if first is not None and first.id in filters.exclude:
        first = None
    categories = query_categories(query)
    phrases = query.phrases + [
        WORD.findall(token.lower()) for token in query.maybe_categories if token not in categories
    ]
    query = replace(query, phrases=phrases)  # the caller's query stays as parsed
    results, total = [], 0
    unfiltered = not categories and filters.but(now=None) == NO_FILTERS
    if not query.empty:
        for any_word in (False, True):
            ranked_in_fts = unfiltered and is_sqlite()
            floor = _sqlite_floor(query, any_word) if ranked_in_fts else 0
            found = _sqlite_top(query, any_word, page, floor) if ranked_in_fts else None
            if found is None and is_sqlite():
                base, score = _sqlite_select(query, any_word, floor)
                found = _page(_filtered(base, filters, categories), score, page)
            elif found is None and unfiltered:
                found = pgsearch.top(query, any_word, page, RANKED_MATCHES)
            elif found is None:
                base, score = pgsearch.matching(query, any_word)
                found = _page(_filtered(base, filters, categories), score, page)
            results, total = found
            if total or len(query.words) + len(query.phrases) < 2:
                break
    elif (categories or filters.category) and not first:
        base = _filtered(select(Paper), filters, categories)
        results, total = _page(base, None, page)
    if first is not None:
        results = [(p, s) for p, s in results if p.id != first.id]
        if page.page == 1:
            results = [(first, 1.0)] + results[: page.per_page - 1]
        total = min(page.cap, total + 1)
    return results, total


def _filtered(base: Select, filters: Filters, categories: list[str]) -> Select:
    for category in categories:
        base = base.where(in_category(category))
    return filters.apply(base)


def _page(base: Select, score, page: Slice) -> tuple[list[tuple[Paper, float]], int]:
    """One page of `base` by score (or newest first without one), and the capped total."""
    count_query = select(func.count()).select_from(
        base.with_only_columns(Paper.id).limit(page.cap).subquery()
    )
    total = db.session.scalar(count_query) or 0
    if total == 0:
        return [], 0
    if score is None:
        ranked = base.add_columns(literal(1.0)).order_by(*NEWEST_FIRST)
    else:
        ranked = base.add_columns(score.label("score")).order_by(
            score.desc(), Paper.published.desc()
        )
    rows = db.session.execute(ranked.limit(page.per_page).offset((page.page - 1) * page.per_page))
    return [(paper, round(float(s), 6)) for paper, s in rows], total


_BM25 = "bm25(papers_fts, 10.0, 1.0, 5.0)"
_FTS_COUNT = text(
    "SELECT count(*) FROM (SELECT rowid FROM papers_fts WHERE papers_fts MATCH :m LIMIT :cap)"
)
_FTS_TOP = text(
    f"SELECT rowid, -{_BM25} AS score FROM papers_fts WHERE papers_fts MATCH :m "
    f"AND rowid >= :floor ORDER BY {_BM25} LIMIT :k"
)
_FTS_FLOOR = text(
    "SELECT rowid FROM papers_fts WHERE papers_fts MATCH :m ORDER BY rowid DESC LIMIT 1 OFFSET :n"
)

RANKED_MATCHES = 10_000  # an unfiltered query matching more ranks its most recently added ones


def _sqlite_floor(query: Query, any_word: bool) -> int:
    """The lowest rowid an unfiltered search ranks: 0 (all of them), or that of its
    RANKED_MATCHES-th most recently added match. bm25 costs a few microseconds a match, and a
    common word matches hundreds of thousands of papers in a large instance; this bounds it."""
    found = db.session.scalar(_FTS_FLOOR, {"m": _fts_match(query, any_word),
                                           "n": RANKED_MATCHES - 1})  # fmt: skip
    return int(found or 0)


def _sqlite_top(query: Query, any_word: bool, page: Slice, floor: int) -> tuple[list, int] | None:
    """An unfiltered search ranked inside the full-text index alone: the best scores among
    the matches from rowid `floor` on come from FTS5 without reading a row of papers, then
    only the page's papers are read. Same order as the joined query (score, then newest);
    None when a tie at the page's end reaches past the candidates fetched (the caller then
    runs the joined query)."""
    match = _fts_match(query, any_word)
    cap = min(page.cap, RANKED_MATCHES) if floor else page.cap  # no page past what is ranked
    total = db.session.scalar(_FTS_COUNT, {"m": match, "cap": cap}) or 0
    start, want = (page.page - 1) * page.per_page, page.page * page.per_page
    if total == 0 or start >= total:
        return [], total
    slack = 50
    rows = db.session.execute(_FTS_TOP, {"m": match, "k": want + slack, "floor": floor}).all()
    last = rows[min(want, len(rows)) - 1].score
    if len(rows) == want + slack and rows[-1].score == last:
        return None
    scores = {rowid: score for rowid, score in rows if score >= last}
    rowid = literal_column("papers.rowid")
    found = db.session.execute(select(Paper, rowid).where(rowid.in_(sorted(scores)))).all()
    ranked = sorted(
        ((paper, scores[r]) for paper, r in found),
        key=lambda ps: (ps[1], as_utc(ps[0].published)),
        reverse=True,
    )
    return [(p, round(float(s), 6)) for p, s in ranked[start:want]], total


def rebuild_index() -> None:
    """Rebuild the full-text index from the papers table (`sanity compute`). PostgreSQL keeps
    its stored tsvector and GIN index current by itself (a REINDEX would lock searches out)."""
    fulltext.rebuild()


# ---- saved searches ----

MATCHES_SCANNED = 1000  # a saved search looks at its best 1000 results


def new_matches(saved: SavedSearch, limit: int = 100) -> list[Paper]:
    """Papers matching a saved search that were added since it was last seen, newest first."""
    results, _ = search(
        parse_query(saved.query),
        Filters(category=saved.category),
        Slice(per_page=MATCHES_SCANNED, cap=MATCHES_SCANNED),
    )
    fresh = [p for p, _ in results if as_utc(p.added) > as_utc(saved.seen)]
    fresh.sort(key=lambda p: (p.published, p.id), reverse=True)
    return fresh[:limit]


def matches(saved: SavedSearch, days: float, now: datetime, limit: int = 50) -> list[Paper]:
    """Recent matches of a saved search (for its feed), newest first."""
    results, _ = search(
        parse_query(saved.query),
        Filters(days=days, now=now, category=saved.category),
        Slice(per_page=MATCHES_SCANNED, cap=MATCHES_SCANNED),
    )
    papers = sorted((p for p, _ in results), key=lambda p: (p.published, p.id), reverse=True)
    return papers[:limit]
