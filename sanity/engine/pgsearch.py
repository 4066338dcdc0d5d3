"""PostgreSQL full-text search: the query, and how an unfiltered search bounds what it ranks.

`ts_rank_cd` reads each match's stored tsvector, and a common word matches a seventh of a
million papers (141,000 for "transformer": 1.7 s to rank them all). An unfiltered search ranks
about `ranked` of them, the most recently added, chosen by the table's statistics:
- no statistics yet (a new or small table): the `added` index is walked backwards, testing
  each row, until `ranked` matches are found;
- a query estimated to match at most `ranked` papers: every match (the GIN index alone);
- a common one: the matches among the most recent papers expected to hold `ranked` of them,
  found by one bitmap of the GIN and `added` indexes (the time bound read from the column's
  histogram in `pg_stats`); a very common one (a share of the papers past WALK_SHARE), whose
  posting list costs more to read than the walk: the walk.
The page is ranked in one statement that also counts what it ranked (the total), and only the
page's papers are read in full.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import Select, func, literal_column, select, text

from sanity.db import db
from sanity.models import Paper
from sanity.query import Query

WALK_SHARE = 0.2  # estimated to match more than this share of the papers: walk (measured at 1M)
_ALL, _WALK = "all", "walk"
_ESTIMATE = text(
    "EXPLAIN (FORMAT JSON) SELECT 1 FROM papers WHERE search_vector @@ to_tsquery('english', :q)"
)
_LEXEMES = text("SELECT numnode(to_tsquery('english', :q))")
_ADDED_QUANTILES = text(
    "SELECT histogram_bounds::text::text[] FROM pg_stats WHERE schemaname = current_schema() "
    "AND tablename = 'papers' AND attname = 'added'"
)
_ROWS = text("SELECT reltuples FROM pg_class WHERE oid = 'papers'::regclass")


def tsquery(query: Query, any_word: bool):
    parts = list(query.words) + ["(" + " <-> ".join(p) + ")" for p in query.phrases]
    return func.to_tsquery("english", (" | " if any_word else " & ").join(parts))


def matching(query: Query, any_word: bool) -> tuple[Select, object]:
    """Every match, and its rank."""
    tsq = tsquery(query, any_word)
    vector = literal_column("papers.search_vector")
    return select(Paper).where(vector.op("@@")(tsq)), func.ts_rank_cd(vector, tsq)


def top(query: Query, any_word: bool, page, ranked: int) -> tuple[list, int]:
    """An unfiltered search's page ([(paper, score)]) and total (capped at `page.cap`)."""
    tsq = tsquery(query, any_word)
    vector = literal_column("papers.search_vector")
    score = func.ts_rank_cd(vector, tsq).label("score")
    matches = select(Paper.id, Paper.published, score).where(vector.op("@@")(tsq))
    how = window(query, any_word, ranked)
    if how == _WALK:
        matches = matches.order_by(Paper.added.desc(), Paper.id.desc()).limit(ranked)
    elif how != _ALL:
        matches = matches.where(Paper.added >= how)
    found = matches.offset(0).subquery()  # a fence: each match's score is computed here once
    start = (page.page - 1) * page.per_page
    rows = db.session.execute(
        select(found.c.id, found.c.score, func.count().over())
        .order_by(found.c.score.desc(), found.c.published.desc())
        .limit(page.per_page)
        .offset(start)
    ).all()
    if not rows:  # nothing, or a page past the end: the total alone
        counted = select(func.count()).select_from(matches.limit(page.cap).subquery())
        return [], min(page.cap, db.session.scalar(counted) or 0)
    papers = {
        p.id: p for p in db.session.scalars(select(Paper).where(Paper.id.in_([r[0] for r in rows])))
    }
    return [(papers[pid], round(float(s), 6)) for pid, s, _ in rows], min(page.cap, rows[0][2])


def window(query: Query, any_word: bool, ranked: int):
    """_ALL, _WALK, or the `added` time from which to rank (see the module's docstring).

    A query's matches are estimated per term (the planner's estimate of each word or phrase):
    the least of them when all must match (an upper bound; the planner's own product assumes
    the words independent, which "neural network" is not), their sum when any may."""
    bounds = db.session.scalar(_ADDED_QUANTILES)
    rows = float(db.session.scalar(_ROWS) or 0)
    if not bounds or rows <= 0:
        return _WALK
    terms = list(query.words) + [" <-> ".join(p) for p in query.phrases]
    estimates = [e for e in map(_estimate, terms) if e is not None]
    matches = min(rows, (sum(estimates) if any_word else min(estimates)) if estimates else 0)
    if matches <= ranked:
        return _ALL
    if matches > WALK_SHARE * rows:
        return _WALK
    step = int((1.0 - ranked / matches) * (len(bounds) - 1))  # bounds: equal shares, oldest first
    return datetime.fromisoformat(bounds[step])


def _estimate(term: str) -> float | None:
    """The planner's estimate of the papers matching one term; None for a stop word."""
    if not db.session.scalar(_LEXEMES, {"q": term}):
        return None
    plan = db.session.scalar(_ESTIMATE, {"q": term})
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return float(plan[0]["Plan"]["Plan Rows"])
