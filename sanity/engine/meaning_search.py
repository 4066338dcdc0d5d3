"""Search by meaning (the semantic layer): a query sentence, or one paper's id, to a page of
the papers nearest in meaning, within the listing's filters.

The query is read as a search by words reads it (`sanity.query.parse_query`): a category code
of this instance's papers filters by that category and is not embedded; an arXiv id alone
ranks by that paper's own embedding, so the paper comes first (an unknown id finds nothing)."""

from __future__ import annotations

import numpy as np
from flask import current_app
from sqlalchemy import select

from sanity.db import db
from sanity.engine import embeddings, hybrid
from sanity.engine.search import query_categories
from sanity.engine.serving import aligned_rows, allowed_rows, current
from sanity.models import Paper
from sanity.papers import Filters
from sanity.query import QueryError, parse_query


def search_by_meaning(text: str, filters: Filters, page: int, per_page: int, cap: int):
    """([(paper, score)], total) for one page; QueryError when nothing is left to embed."""
    f, e = current(), embeddings.current()
    if e is None:
        return [], 0
    query = parse_query(text, int(current_app.config["SEARCH_MAX_QUERY_LENGTH"]))
    categories = query_categories(query)
    rows = aligned_rows(f, e)
    inside = allowed_rows(f, filters) & (rows >= 0)
    for category in categories:
        inside &= f.category_mask(category)
    allowed = np.zeros(e.n, dtype=bool)
    allowed[rows[inside]] = True
    if query.paper_id:  # the query is an id alone: that paper's meaning, not the id's
        row = e.index.get(query.paper_id)
        paper = db.session.get(Paper, query.paper_id) if row is None else None
        if row is None and paper is None:
            return [], 0  # no such paper here, as a search by words finds none
        if row is not None:
            v = np.asarray(e.for_scoring[row], dtype=np.float32)
        else:  # not embedded yet: its text, embedded now
            v = embeddings.runtime().encode([embeddings.paper_text(paper.title, paper.abstract)])[0]
    else:
        words = [token for token in text.split() if token not in categories]
        if not words:
            raise QueryError("a search by meaning needs words besides category codes")
        v = embeddings.runtime().encode([" ".join(words)])[0]
    ranked = hybrid.by_meaning(e.for_scoring, v, min(cap, page * per_page), allowed)
    start = (page - 1) * per_page
    ids = [e.ids[r] for r in ranked.rows[start:]]
    found = {p.id: p for p in db.session.scalars(select(Paper).where(Paper.id.in_(ids)))}
    papers = [(found[pid], round(float(s), 6)) for pid, s in
              zip(ids, ranked.scores[start:], strict=True) if pid in found]  # fmt: skip
    return papers, min(cap, int(allowed.sum()))
