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
_LEXEMES = text(
    "SELECT w, numnode(to_tsquery('english', w)) FROM unnest(CAST(:words AS text[])) AS w"
)
_ADDED_STATS = text(
    "SELECT most_common_vals::text::text[], most_common_freqs, histogram_bounds::text::text[], "
    "null_frac FROM pg_stats WHERE schemaname = current_schema() AND tablename = 'papers' "
    "AND attname = 'added'"
)
_ROWS = text("SELECT reltuples FROM pg_class WHERE oid = 'papers'::regclass")


def tsquery(query: Query, any_word: bool):
    parts = list(query.words) + ["(" + " <-> ".join(p) + ")" for p in query.phrases]
    return func.to_tsquery("english", (" | " if any_word else " & ").join(parts))


def _match(query: Query, any_word: bool):
    """(the condition a match meets, its rank)."""
    tsq = tsquery(query, any_word)
    vector = literal_column("papers.search_vector")
    return vector.op("@@")(tsq), func.ts_rank_cd(vector, tsq)


def matching(query: Query, any_word: bool) -> tuple[Select, object]:
    """Every match, and its rank."""
    condition, score = _match(query, any_word)
    return select(Paper).where(condition), score


def top(query: Query, any_word: bool, page, ranked: int) -> tuple[list, int]:
    """An unfiltered search's page ([(paper, score)]) and total (capped at `page.cap`). A window
    that held under half the matches it was sized for (the statistics misjudged where they
    are: say, words that meet only in old papers) is ranked again without a bound: at most
    about as many matches as the query's estimate."""
    how = window(query, any_word, ranked)
    found, total = _ranked(query, any_word, page, ranked, how)
    if how not in (_ALL, _WALK) and total < min(page.cap, ranked) // 2:
        found, total = _ranked(query, any_word, page, ranked, _ALL)
    return found, total


def _ranked(query: Query, any_word: bool, page, ranked: int, how) -> tuple[list, int]:
    condition, score = _match(query, any_word)
    matches = select(Paper.id, Paper.published, score.label("score")).where(condition)
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
        kept = matches if how == _WALK else matches.limit(page.cap)  # the walk's own limit
        counted = select(func.count()).select_from(kept.subquery())
        return [], min(page.cap, db.session.scalar(counted) or 0)
    wanted = select(Paper).where(Paper.id.in_([r[0] for r in rows]))
    papers = {p.id: p for p in db.session.scalars(wanted)}
    return [(papers[pid], round(float(s), 6)) for pid, s, _ in rows], min(page.cap, rows[0][2])


def window(query: Query, any_word: bool, ranked: int):
    """_ALL, _WALK, or the `added` time from which to rank (see the module's docstring).

    A query's matches are estimated from its words' (the planner's estimate of each): a phrase
    or a query whose words must all match, at most its least frequent word's (the planner's
    own estimate multiplies them as if independent, which "neural network" is not: 14,000 of
    its 67,000); a query where any word may match, at most their sum."""
    stats = db.session.execute(_ADDED_STATS).first()
    rows = float(db.session.scalar(_ROWS) or 0)
    if stats is None or rows <= 0:
        return _WALK
    parts = [[w] for w in query.words] + [list(p) for p in query.phrases]
    words = sorted({w for part in parts for w in part})
    found = db.session.execute(_LEXEMES, {"words": words}).all()  # stop words have none
    estimate = {w: _estimate(w) for w, lexemes in found if lexemes}
    bounds = [[estimate[w] for w in part if w in estimate] for part in parts]
    least = [min(b) for b in bounds if b]
    matches = min(rows, (sum(least) if any_word else min(least)) if least else 0)
    if matches <= ranked:
        return _ALL
    if matches > WALK_SHARE * rows:
        return _WALK
    start = since(ranked / matches, *stats)
    return _WALK if start is None else start


def since(share: float, values, freqs, bounds, nulls) -> datetime | None:
    """The latest `added` such that the papers added at or after it are at least `share` of
    them, by the column's statistics: its most common values (each with its share; a batch of
    an import shares one `added`) and the histogram of the others (equal shares between
    bounds, each counted at its lower bound, so the window errs on the large side)."""
    values, freqs, bounds = values or [], freqs or [], bounds or []
    rest = max(0.0, 1.0 - float(nulls or 0) - sum(freqs))
    points = [(datetime.fromisoformat(v), float(f)) for v, f in zip(values, freqs, strict=True)]
    if len(bounds) > 1:
        step = rest / (len(bounds) - 1)
        points += [(datetime.fromisoformat(b), step) for b in bounds[:-1]]
    held = 0.0
    for when, mass in sorted(points, reverse=True):
        held += mass
        if held >= share:
            return when
    return None  # the whole table


def _estimate(word: str) -> float:
    """The planner's estimate of the papers matching one word."""
    plan = db.session.scalar(_ESTIMATE, {"q": word})
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return float(plan[0]["Plan"]["Plan Rows"])
