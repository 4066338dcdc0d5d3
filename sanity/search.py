"""Keyword search behind one small interface: SQLite FTS5 or PostgreSQL full text.

User input never reaches the index's query syntax: it is cut into plain alphanumeric words and
quoted phrases, and the query is built from those alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Select, column, func, literal_column, select, table, text

from .arxiv import parse_id
from .db import db
from .models import Paper
from .papers import in_category

MAX_TERMS = 32
_PHRASE = re.compile(r'"([^"]*)"')
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_CATEGORY = re.compile(r"^[a-z]+(?:-[a-z]+)?\.[A-Za-z]+(?:-[a-z]+)?$")


class QueryError(ValueError):
    """The query cannot be searched (empty or too long); the message says why."""


@dataclass
class Query:
    """A parsed query: words (all must match) and phrases (each must match in order)."""

    words: list[str] = field(default_factory=list)
    phrases: list[list[str]] = field(default_factory=list)
    paper_id: str | None = None
    maybe_categories: list[str] = field(default_factory=list)  # tokens like cs.LG

    @property
    def empty(self) -> bool:
        return not self.words and not self.phrases


def parse_query(raw: str, max_length: int = 1000) -> Query:
    """Split user input into safe words and phrases; detect an arXiv id."""
    q = (raw or "").strip()
    if not q:
        raise QueryError("q is required")
    if len(q) > max_length:
        raise QueryError(f"q is too long (at most {max_length} characters)")
    query = Query()
    try:
        query.paper_id = parse_id(q)[0]
    except ValueError:
        pass
    for phrase in _PHRASE.findall(q):
        tokens = _WORD.findall(phrase.lower())
        if len(tokens) > 1:
            query.phrases.append(tokens)
        elif tokens:
            query.words.append(tokens[0])
    rest = _PHRASE.sub(" ", q)
    for token in rest.split():
        if _CATEGORY.match(token):
            query.maybe_categories.append(token)
            continue
        parts = _WORD.findall(token.lower())
        if len(parts) > 1:  # self-supervised, cs.LG: the parts in order
            query.phrases.append(parts)
        elif parts:
            query.words.append(parts[0])
    query.words = list(dict.fromkeys(query.words))[:MAX_TERMS]
    query.phrases = query.phrases[:MAX_TERMS]
    return query


# ---- SQLite FTS5 ----

fts = table("papers_fts", column("rowid"))


def _fts_match(query: Query, any_word: bool = False) -> str:
    quoted = [f'"{w}"' for w in query.words] + ['"' + " ".join(p) + '"' for p in query.phrases]
    return (" OR " if any_word else " ").join(quoted)


def _sqlite_select(query: Query, any_word: bool) -> tuple[Select, object]:
    # bm25 is lower-is-better; title matches weigh 10x, authors 5x an abstract match
    score = -literal_column("bm25(papers_fts, 10.0, 1.0, 5.0)")
    base = (
        select(Paper)
        .join(fts, literal_column("papers_fts.rowid") == literal_column("papers.rowid"))
        .where(literal_column("papers_fts").op("MATCH")(_fts_match(query, any_word)))
    )
    return base, score


# ---- PostgreSQL full text ----


def _pg_tsquery(query: Query, any_word: bool) -> str:
    parts = list(query.words) + ["(" + " <-> ".join(p) + ")" for p in query.phrases]
    return (" | " if any_word else " & ").join(parts)


def _pg_select(query: Query, any_word: bool) -> tuple[Select, object]:
    tsq = func.to_tsquery("english", _pg_tsquery(query, any_word))
    vector = literal_column("papers.search_vector")
    base = select(Paper).where(vector.op("@@")(tsq))
    return base, func.ts_rank_cd(vector, tsq)


def _is_category(token: str) -> bool:
    found = select(Paper.id).where(Paper.primary_category == token).limit(1)
    return db.session.scalar(found) is not None


def _filtered(base: Select, categories: list[str], days: float | None, now: datetime | None):
    for category in categories:
        base = base.where(in_category(category))
    if days is not None and now is not None:
        base = base.where(Paper.published >= now - timedelta(days=days))
    return base


def search(
    query: Query,
    category: str | None = None,
    days: float | None = None,
    now: datetime | None = None,
    page: int = 1,
    per_page: int = 25,
    cap: int = 1000,
) -> tuple[list[tuple[Paper, float]], int]:
    """Rank papers for a parsed query: ([(paper, score)], total capped at `cap`).

    An arXiv id in the query puts that paper first. If requiring every word finds nothing, the
    search falls back to any word.
    """
    first = db.session.get(Paper, query.paper_id) if query.paper_id else None
    categories = [category] if category else []
    for token in query.maybe_categories:
        if _is_category(token):  # cs.LG in the query filters by category
            categories.append(token)
        else:
            query.phrases.append(_WORD.findall(token.lower()))
    results, total = [], 0
    if not query.empty:
        for any_word in (False, True):
            results, total = _run(query, any_word, categories, days, now, page, per_page, cap)
            if total or len(query.words) + len(query.phrases) < 2:
                break
    elif categories and not first:
        results, total = _newest(categories, days, now, page, per_page, cap)
    if first is not None:
        results = [(p, s) for p, s in results if p.id != first.id]
        if page == 1:
            results = [(first, 1.0)] + results[: per_page - 1]
        total = min(cap, total + 1)
    return results, total


def _newest(categories, days, now, page, per_page, cap):
    base = _filtered(select(Paper), categories, days, now)
    count_query = select(func.count()).select_from(
        base.with_only_columns(Paper.id).limit(cap).subquery()
    )
    total = db.session.scalar(count_query) or 0
    rows = db.session.scalars(
        base.order_by(Paper.published.desc(), Paper.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return [(paper, 1.0) for paper in rows], total


def _run(query, any_word, categories, days, now, page, per_page, cap):
    sqlite = db.engine.dialect.name == "sqlite"
    base, score = (_sqlite_select if sqlite else _pg_select)(query, any_word)
    base = _filtered(base, categories, days, now)
    count_query = select(func.count()).select_from(
        base.with_only_columns(Paper.id).limit(cap).subquery()
    )
    total = db.session.scalar(count_query) or 0
    if total == 0:
        return [], 0
    ranked = (
        base.add_columns(score.label("score"))
        .order_by(score.desc(), Paper.published.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return [(paper, round(float(s), 6)) for paper, s in db.session.execute(ranked)], total


def rebuild_index() -> None:
    """Rebuild the full-text index from the papers table (`sanity compute`)."""
    if db.engine.dialect.name != "sqlite":
        # PostgreSQL keeps the stored tsvector and its GIN index current by itself; a REINDEX
        # would lock every search out while it runs.
        return
    db.session.execute(text("INSERT INTO papers_fts(papers_fts) VALUES('rebuild')"))
    db.session.commit()
