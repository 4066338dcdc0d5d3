"""Rank papers with this process's features: similar papers, recommendations, a paper's words.

Pure rankers (`ranking`) on the current build (`store`), filtered by a row mask before the top
k is taken, then turned into database rows.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import scipy.sparse as sp
from flask import current_app
from sqlalchemy import select

from sanity.db import db
from sanity.engine import classifier, embedding_store, embeddings, hybrid, ranking
from sanity.engine.features import Features, paper_text
from sanity.engine.store import EngineUnavailable, store_for
from sanity.models import Paper
from sanity.papers import NO_FILTERS, Filters


@dataclass
class Result:
    """Ranked papers with scores, and the words behind a model where there is one."""

    papers: list[tuple[Paper, float]] = field(default_factory=list)
    words: list[dict] | None = None
    meaning: frozenset[str] = frozenset()  # ids found similar by meaning more than by words


class Seeds(Protocol):
    """What a recommendation learns from: papers liked, papers not wanted, papers to leave
    out without learning from them (a user's training sets have this shape)."""

    positive: Sequence[str]
    negative: Sequence[str]
    hidden: Sequence[str]


@dataclass(frozen=True)
class SeedPapers:
    """Seeds given as ids (the API's `ids=` and `exclude=`)."""

    positive: Sequence[str]
    negative: Sequence[str] = ()
    hidden: Sequence[str] = ()


def current() -> Features:
    """The current feature build; EngineUnavailable when there is none yet."""
    found = store_for(current_app.config["DATA_DIR"]).get()
    if found is None or found.n == 0 or not found.vocabulary:
        raise EngineUnavailable("features are not built yet: run `sanity compute`")
    return found


def allowed_rows(f: Features, filters: Filters, exclude_rows: Sequence[int] = ()) -> np.ndarray:
    """The rows a ranking may return: inside the time window and category, not excluded."""
    mask = np.ones(f.n, dtype=bool)
    since = filters.since
    if since is not None:
        mask &= f.published >= int(since.timestamp())
    if filters.category:
        mask &= f.category_mask(filters.category)
    rows = list(exclude_rows) + [f.index[p] for p in filters.exclude if p in f.index]
    if rows:
        mask[np.asarray(rows, dtype=np.int64)] = False
    return mask


def _papers(f: Features, ranked: ranking.Ranking) -> list[tuple[Paper, float]]:
    ids = [f.ids[r] for r in ranked.rows]
    found = {p.id: p for p in db.session.scalars(select(Paper).where(Paper.id.in_(ids)))}
    return [
        (found[pid], round(float(s), 6))
        for pid, s in zip(ids, ranked.scores, strict=True)
        if pid in found
    ]


def paper_vector(f: Features, paper: Paper) -> sp.csr_matrix:
    """A paper's row, vectorized on the fly if it is newer than the build."""
    row = f.index.get(paper.id)
    if row is not None:
        return f.X[row]
    text = paper_text(paper.title, paper.abstract, paper.authors or [])
    return f.vectorize([text], [paper.authors or []])


def similar_to_paper(paper: Paper, limit: int, filters: Filters = NO_FILTERS) -> Result:
    """Papers most similar to one paper (itself excluded), within `filters`."""
    f = current()
    own = f.index.get(paper.id)
    allowed = allowed_rows(f, filters, [own] if own is not None else [])
    e = embeddings.current()
    if e is None and current_app.config["SIMILAR_METHOD"] == "svm" and own is not None:
        return Result(_papers(f, classifier.exemplar_svm(f.X, own, limit, allowed=allowed)))
    primary = paper.category_list[:1]
    weight = float(current_app.config["SIMILAR_CATEGORY_WEIGHT"])
    bonus = f.primary_mask(primary[0]) if primary and weight > 0 else None
    scores = _similar_scores(f, paper_vector(f, paper), bonus, weight)
    if e is not None:  # the semantic layer: words, authors and meaning together
        row = e.index.get(paper.id)
        meaning = None if row is None else e.vectors[row]
        weight = float(current_app.config["SEMANTIC_SIMILAR_WEIGHT"])
        return _hybrid_similar(f, e, scores, meaning, weight=weight, limit=limit, allowed=allowed)
    return Result(_papers(f, _top(f, scores, limit, allowed)))


def similar_to_text(text: str, limit: int) -> Result:
    """Papers most similar to a pasted abstract; meaning weighs SEMANTIC_TEXT_WEIGHT (text has
    no authors whose papers heavier meaning would push out, as a paper's similar list has)."""
    f = current()
    scores = _similar_scores(f, f.vectorize([text]))
    e = embeddings.current()
    weight = float(current_app.config["SEMANTIC_TEXT_WEIGHT"])
    if e is not None and weight > 0:
        meaning = embeddings.runtime().encode([text])[0]
        return _hybrid_similar(f, e, scores, meaning, weight=weight, limit=limit)
    return Result(_papers(f, _top(f, scores, limit)))


def _similar_scores(f: Features, query, bonus=None, bonus_weight=0.0) -> np.ndarray | None:
    """Words' cosine + SIMILAR_AUTHOR_WEIGHT x shared authors' cosine (+ a category bonus)."""
    return ranking.similar_scores(
        f.X,
        query,
        split=len(f.vocabulary),
        columns=f.columns,
        scales=f.part_scales if len(f.authors) else None,
        author_weight=float(current_app.config["SIMILAR_AUTHOR_WEIGHT"]),
        bonus=bonus,
        bonus_weight=bonus_weight,
    )


def _top(f: Features, scores: np.ndarray | None, limit: int, allowed=None) -> ranking.Ranking:
    if scores is None:
        return ranking.empty()
    return ranking.top_k(scores, limit, allowed)


_aligned: dict[tuple[str, str], np.ndarray] = {}


def aligned_rows(f: Features, e: embedding_store.Embeddings) -> np.ndarray:
    """Each feature row's embedding row (-1: none yet), computed once per pair of builds."""
    global _aligned
    key = (f.build_id, e.build_id)
    found = _aligned.get(key)
    if found is None:  # one pair kept: replaced in one step, so a concurrent reader never misses
        found = hybrid.aligned(f.ids, e.index)
        _aligned = {key: found}
    return found


def _hybrid_similar(f, e, scores, meaning, *, weight: float, limit: int, allowed=None) -> Result:
    """Words' scores + `weight` x meaning's cosine (estimated from the words for papers not
    embedded yet); words alone when meaning weighs nothing or the query has none."""
    if weight <= 0 or meaning is None:
        return Result(_papers(f, _top(f, scores, limit, allowed)))
    rows = aligned_rows(f, e)
    part = hybrid.fill_missing(
        hybrid.meaning_part(e.for_scoring, rows, weight, meaning), rows, scores, allowed
    )
    total = part if scores is None else scores + part
    ranked = ranking.top_k(total, limit, allowed)
    # "similar in meaning, not in words": listed only because of meaning (the words alone
    # would have ranked it below the list)
    by_words = set() if scores is None else set(ranking.top_k(scores, limit, allowed).rows.tolist())
    by_meaning = {f.ids[r] for r in ranked.rows.tolist() if r not in by_words and rows[r] >= 0}
    return Result(_papers(f, ranked), meaning=frozenset(by_meaning))


class _Cache:
    """A small thread-safe LRU for recommendation results."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self.items: OrderedDict = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        return None

    def put(self, key, value) -> None:
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)


_cache = _Cache()


def recommend(
    seeds: Seeds,
    *,
    limit: int,
    C: float | None = None,
    filters: Filters = NO_FILTERS,
    include_tagged: bool = False,
) -> Result:
    """Rank papers with an SVM trained on positives vs negatives (+ sampled others).

    The seeds' papers (positive, negative and hidden) are left out of the results unless
    `include_tagged`; hidden ones are never learned from. No positives: no results."""
    f = current()
    cfg = current_app.config
    C = float(cfg["SVM_C"] if C is None else C)
    pos = [f.index[p] for p in seeds.positive if p in f.index]
    if not seeds.positive:
        return Result([], [])
    neg = [f.index[p] for p in seeds.negative if p in f.index]
    hidden = [] if include_tagged else [f.index[p] for p in seeds.hidden if p in f.index]
    since = filters.since
    hour = None if since is None else int(since.timestamp()) // 3600
    seeds_key = (tuple(sorted(pos)), tuple(sorted(neg)), tuple(sorted(hidden)))
    filters_key = (hour, filters.category, tuple(sorted(filters.exclude)))
    e = embeddings.current()
    key = (f.build_id, e and e.build_id, seeds_key, filters_key, C, include_tagged, limit)
    ranked = _cache.get(key)
    if ranked is None and e is not None:  # the semantic layer: meaning beside the words
        exclude = hidden if include_tagged else pos + neg + hidden
        ranked = hybrid.svm(
            f.X, e.for_scoring, aligned_rows(f, e), float(cfg["SEMANTIC_WEIGHT"]),
            np.array(pos), np.array(neg), k=limit, C=C, n_sampled=int(cfg["SVM_NEGATIVES"]),
            allowed=allowed_rows(f, filters, exclude), vocabulary=f.terms,
            split=len(f.vocabulary),
        )  # fmt: skip
        _cache.put(key, ranked)
    if ranked is None:
        exclude = hidden if include_tagged else pos + neg + hidden
        ranked = classifier.svm(
            f.X,
            np.array(pos),
            np.array(neg),
            k=limit,
            C=C,
            n_sampled=int(cfg["SVM_NEGATIVES"]),
            allowed=allowed_rows(f, filters, exclude),
            vocabulary=f.terms,
        )
        _cache.put(key, ranked)
    return Result(_papers(f, ranked), _words(ranked))


def _words(ranked: ranking.Ranking) -> list[dict]:
    return [{"word": w, "weight": round(x, 4)} for w, x in (ranked.words or [])]


def paper_words(paper: Paper, n: int = 20) -> list[dict]:
    """A paper's strongest TF-IDF terms and author names ("author: Name"), strongest first:
    why it is represented as it is."""
    f = current()
    row = paper_vector(f, paper).tocsr()
    order = np.lexsort((row.indices, -row.data))[:n]
    terms = f.terms
    return [{"word": terms[row.indices[i]], "weight": round(float(row.data[i]), 4)} for i in order]
