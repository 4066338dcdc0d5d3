"""The engine behind the API: features of this process + pure rankers + filters + a cache."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import scipy.sparse as sp
from flask import current_app
from sqlalchemy import select

from . import features as feat
from . import ranking
from .db import db
from .errors import EngineUnavailable
from .models import Paper


@dataclass
class Result:
    """Ranked papers with scores, and the words behind a model where there is one."""

    papers: list[tuple[Paper, float]] = field(default_factory=list)
    words: list[dict] | None = None


def current() -> feat.Features:
    found = feat.store_for(current_app.config["DATA_DIR"]).get()
    if found is None or found.n == 0 or not found.vocabulary:
        raise EngineUnavailable("features are not built yet: run `sanity compute`")
    return found


def allowed_rows(
    f: feat.Features,
    days: float | None = None,
    category: str | None = None,
    now: datetime | None = None,
    exclude: list[int] | None = None,
) -> np.ndarray:
    """The rows a ranking may return: inside the time window and category, not excluded."""
    mask = np.ones(f.n, dtype=bool)
    if days is not None and now is not None:
        mask &= f.published >= int((now - timedelta(days=days)).timestamp())
    if category:
        mask &= f.category_mask(category)
    if exclude:
        mask[np.asarray(exclude, dtype=np.int64)] = False
    return mask


def _papers(f: feat.Features, ranked: ranking.Ranking) -> list[tuple[Paper, float]]:
    ids = [f.ids[r] for r in ranked.rows]
    found = {p.id: p for p in db.session.scalars(select(Paper).where(Paper.id.in_(ids)))}
    return [
        (found[pid], round(float(s), 6))
        for pid, s in zip(ids, ranked.scores, strict=True)
        if pid in found
    ]


def paper_vector(f: feat.Features, paper: Paper) -> sp.csr_matrix:
    """A paper's row, vectorized on the fly if it is newer than the build."""
    row = f.index.get(paper.id)
    if row is not None:
        return f.X[row]
    return f.vectorize([feat.paper_text(paper.title, paper.abstract, paper.authors or [])])


def similar_to_paper(paper: Paper, limit: int, days=None, now=None) -> Result:
    """Papers most similar to one paper (itself excluded)."""
    f = current()
    own = f.index.get(paper.id)
    allowed = allowed_rows(f, days, None, now, [own] if own is not None else None)
    method = current_app.config["SIMILAR_METHOD"]
    if method == "svm" and own is not None:
        ranked = ranking.exemplar_svm(f.X, own, limit, allowed=allowed)
    else:
        ranked = ranking.cosine(f.X, paper_vector(f, paper), limit, allowed, f.columns)
    return Result(_papers(f, ranked))


def similar_to_text(text: str, limit: int) -> Result:
    """Papers most similar to a pasted abstract."""
    f = current()
    ranked = ranking.cosine(f.X, f.vectorize([text]), limit, columns=f.columns)
    return Result(_papers(f, ranked))


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
    positive_ids: list[str],
    negative_ids: list[str],
    limit: int,
    C: float | None = None,
    days: float | None = None,
    category: str | None = None,
    now: datetime | None = None,
    include_tagged: bool = False,
    hidden_ids: list[str] | None = None,
) -> Result:
    """Rank papers with an SVM trained on positives vs negatives (+ sampled others).

    Positives and negatives are left out of the results unless include_tagged; `hidden_ids`
    are left out too without being used for training (say, papers in the user's other tags).
    """
    f = current()
    cfg = current_app.config
    C = float(cfg["SVM_C"] if C is None else C)
    day_key = None if days is None or now is None else (days, int(now.timestamp()) // 3600)
    key = (f.build_id, tuple(sorted(positive_ids)), tuple(sorted(negative_ids)), C, day_key,
           category, include_tagged, limit, tuple(sorted(hidden_ids or [])))  # fmt: skip
    cached = _cache.get(key)
    if cached is not None:
        return Result(_papers(f, cached), _words(cached))
    pos = [f.index[p] for p in positive_ids if p in f.index]
    neg = [f.index[p] for p in negative_ids if p in f.index]
    hidden = [f.index[p] for p in hidden_ids or [] if p in f.index]
    exclude = hidden if include_tagged else pos + neg + hidden
    allowed = allowed_rows(f, days, category, now, exclude)
    ranked = ranking.svm(
        f.X, np.array(pos), np.array(neg), k=limit, C=C, n_sampled=int(cfg["SVM_NEGATIVES"]),
        allowed=allowed, vocabulary=f.vocabulary,
    )  # fmt: skip
    _cache.put(key, ranked)
    return Result(_papers(f, ranked), _words(ranked))


def _words(ranked: ranking.Ranking) -> list[dict]:
    return [{"word": w, "weight": round(x, 4)} for w, x in (ranked.words or [])]


def paper_words(paper: Paper, n: int = 20) -> list[dict]:
    """A paper's strongest TF-IDF terms (why it is represented as it is)."""
    f = current()
    row = paper_vector(f, paper).tocsr()
    order = np.argsort(-row.data)[:n]
    return [
        {"word": f.vocabulary[row.indices[i]], "weight": round(float(row.data[i]), 4)}
        for i in order
    ]
