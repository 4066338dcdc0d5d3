"""TF-IDF features: a memory-bounded build and fresh rows added to a build.

A build holds the float32 CSR matrix (rows l2-normalised), the vocabulary, idf, and per-row
metadata (paper id, published and updated times, categories); `sanity.engine.store` saves and
loads it.
"""

from __future__ import annotations

import heapq
import logging
import math
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.preprocessing import normalize

log = logging.getLogger(__name__)

TOKEN_PATTERN = r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b"


@dataclass(frozen=True)
class Params:
    """TF-IDF parameters (config keys TFIDF_*); the defaults follow arxiv-sanity-lite."""

    ngram_max: int = 2
    sublinear_tf: bool = True
    stop_words: str | None = "english"
    max_features: int = 20000
    min_df: float = 5
    max_df: float = 0.1
    max_ngrams: int = 1_000_000
    chunk: int = 5000

    @classmethod
    def from_config(cls, cfg) -> Params:
        return cls(
            ngram_max=int(cfg["TFIDF_NGRAM_MAX"]),
            sublinear_tf=bool(cfg["TFIDF_SUBLINEAR_TF"]),
            stop_words=cfg["TFIDF_STOP_WORDS"] or None,
            max_features=int(cfg["TFIDF_MAX_FEATURES"]),
            min_df=float(cfg["TFIDF_MIN_DF"]),
            max_df=float(cfg["TFIDF_MAX_DF"]),
            max_ngrams=int(cfg["TFIDF_MAX_NGRAMS"]),
        )

    def analyzer(self):
        return CountVectorizer(
            strip_accents="unicode",
            lowercase=True,
            stop_words=self.stop_words,
            token_pattern=TOKEN_PATTERN,
            ngram_range=(1, self.ngram_max),
        ).build_analyzer()

    def df_bounds(self, n: int) -> tuple[int, int]:
        """Document-frequency limits as counts, relaxed on small corpora so any size works."""
        if n < 200:
            return 1, n
        lo = int(self.min_df) if self.min_df >= 1 else math.ceil(self.min_df * n)
        hi = int(self.max_df) if self.max_df > 1 else math.floor(self.max_df * n)
        if n < 2000:
            lo, hi = min(lo, 2), max(hi, n // 2)
        return max(1, lo), max(max(1, lo), hi)


def paper_text(title: str, abstract: str, authors: Iterable[str]) -> str:
    """The text a paper is represented by: title, abstract and author names."""
    return f"{title}. {abstract} {', '.join(authors)}"


@dataclass
class Doc:
    id: str
    text: str
    published: int  # epoch seconds
    updated: int
    categories: str


@dataclass
class Features:
    """A loaded build: matrix, vocabulary, idf and row metadata."""

    build_id: str
    vocab_id: str
    X: sp.csr_matrix
    vocabulary: list[str]
    idf: np.ndarray
    ids: list[str]
    published: np.ndarray
    updated: np.ndarray
    categories: list[str]
    params: Params
    fitted_docs: int
    columns: sp.csr_matrix | None = None  # X transposed (term -> papers), when loaded from disk
    index: dict[str, int] = field(default_factory=dict)
    _category_masks: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.index = {pid: row for row, pid in enumerate(self.ids)}
        self._lock = threading.Lock()
        self._analyzer = None
        self._term_index = None

    @property
    def n(self) -> int:
        return self.X.shape[0]

    def vectorize(self, texts: list[str]) -> sp.csr_matrix:
        """TF-IDF rows for new texts with this build's vocabulary and idf."""
        with self._lock:
            if self._analyzer is None:
                self._analyzer = self.params.analyzer()
                self._term_index = {t: i for i, t in enumerate(self.vocabulary)}
        vectorizer = CountVectorizer(
            analyzer=self._analyzer, vocabulary=self._term_index, dtype=np.float32
        )
        return weigh(vectorizer.transform(texts), self.idf, self.params.sublinear_tf)

    def category_mask(self, category: str) -> np.ndarray:
        """Rows listing `category` (cached per build)."""
        mask = self._category_masks.get(category)
        if mask is None:
            mask = np.fromiter(
                (category in c.split() for c in self.categories), dtype=bool, count=self.n
            )
            self._category_masks[category] = mask
        return mask


def weigh(counts: sp.csr_matrix, idf: np.ndarray, sublinear: bool) -> sp.csr_matrix:
    """Counts -> l2-normalised (sublinear) tf * idf, float32."""
    X = counts.astype(np.float32, copy=True).tocsr()
    if X.shape[1] == 0:  # no vocabulary (say, only stop words): nothing to weigh
        return X
    if sublinear:
        np.log(X.data, out=X.data)
        X.data += 1.0
    X.data *= idf[X.indices]
    return normalize(X, copy=False)


# ---- building ----


def build(doc_source, params: Params) -> Features:
    """Choose the vocabulary by streaming document frequencies, then count and weigh in chunks.

    `doc_source()` returns a fresh iterator over all docs (it is walked twice). Memory stays
    bounded: the n-gram counter is pruned of its rarest entries whenever it outgrows
    `params.max_ngrams` (lossy counting), and texts are handled one chunk at a time.
    """
    started = time.monotonic()
    analyzer = params.analyzer()
    n, doc_freq = _document_frequencies(doc_source(), analyzer, params.max_ngrams)
    lo, hi = params.df_bounds(n)
    if not any(lo <= c <= hi for c in doc_freq.values()):
        lo, hi = 1, n  # e.g. near-identical texts: every term too common; keep them all
    eligible = ((t, c) for t, c in doc_freq.items() if lo <= c <= hi)
    # Candidates by document frequency; the final choice is by total term frequency (as
    # scikit-learn's max_features does), counted exactly in the second pass.
    wanted = int(params.max_features * 1.5)
    chosen = heapq.nlargest(wanted, eligible, key=lambda tc: (tc[1], tc[0]))
    del doc_freq
    candidates = sorted(t for t, _ in chosen)
    counts, df, meta = _count_all(doc_source(), analyzer, candidates, params.chunk)
    keep = np.flatnonzero((df >= lo) & (df <= hi))
    if len(keep) > params.max_features:
        totals = np.asarray(counts.sum(axis=0)).ravel()[keep]
        keep = np.sort(keep[np.argsort(-totals, kind="stable")[: params.max_features]])
    if len(keep) < len(candidates):
        counts, df = counts[:, keep], df[keep]
    vocabulary = [candidates[i] for i in keep]
    idf = (np.log((1 + n) / (1 + df)) + 1).astype(np.float32)
    X = weigh(counts, idf, params.sublinear_tf)
    del counts
    features = Features(
        build_id=_new_build_id(),
        vocab_id=uuid.uuid4().hex[:12],
        X=X,
        vocabulary=vocabulary,
        idf=idf,
        ids=meta["ids"],
        published=np.asarray(meta["published"], dtype=np.int64),
        updated=np.asarray(meta["updated"], dtype=np.int64),
        categories=meta["categories"],
        params=params,
        fitted_docs=n,
    )
    log.info(
        "features: built %d docs x %d terms (%d nnz) in %.1fs",
        n, len(vocabulary), X.nnz, time.monotonic() - started,
    )  # fmt: skip
    return features


def _document_frequencies(docs: Iterable[Doc], analyzer, max_ngrams: int) -> tuple[int, Counter]:
    """(number of docs, n-gram -> document frequency), pruned to stay under max_ngrams."""
    counts: Counter = Counter()
    n = 0
    for n, doc in enumerate(docs, start=1):  # noqa: B007 - n is the count afterwards
        counts.update(set(analyzer(doc.text)))
        if len(counts) > max_ngrams:
            # Keep the most frequent half; the rare tail is what a vocabulary never needs.
            by_count = Counter(counts.values())
            kept, floor = 0, max(by_count) + 1
            for value in sorted(by_count, reverse=True):
                if kept + by_count[value] > max_ngrams // 2:
                    break
                kept += by_count[value]
                floor = value
            counts = Counter({t: c for t, c in counts.items() if c >= floor})
    return n, counts


def _count_all(docs: Iterator[Doc], analyzer, terms: list[str], chunk: int):
    vocabulary = {t: i for i, t in enumerate(terms)}
    df = np.zeros(len(terms), dtype=np.int64)
    parts: list[sp.csr_matrix] = []
    meta: dict[str, list] = {"ids": [], "published": [], "updated": [], "categories": []}
    batch: list[str] = []

    def flush() -> None:
        if not batch:
            return
        if vocabulary:
            m = CountVectorizer(
                analyzer=analyzer, vocabulary=vocabulary, dtype=np.float32
            ).transform(batch)
        else:
            m = sp.csr_matrix((len(batch), 0), dtype=np.float32)
        df[:] += np.bincount(m.indices, minlength=len(terms))
        parts.append(m)
        batch.clear()

    for doc in docs:
        batch.append(doc.text)
        meta["ids"].append(doc.id)
        meta["published"].append(doc.published)
        meta["updated"].append(doc.updated)
        meta["categories"].append(doc.categories)
        if len(batch) >= chunk:
            flush()
    flush()
    counts = sp.vstack(parts, format="csr") if parts else sp.csr_matrix((0, len(terms)))
    return counts.astype(np.float32), df, meta


def with_rows(base: Features, docs: list[Doc]) -> Features:
    """A new build with `docs` vectorized by base's vocabulary (replacing rows of the same id)."""
    replaced = {d.id for d in docs}
    keep = np.array([pid not in replaced for pid in base.ids], dtype=bool)
    new_rows = base.vectorize([d.text for d in docs]) if docs else None
    parts = [base.X[keep]] + ([new_rows] if new_rows is not None else [])
    kept_ids = [pid for pid, k in zip(base.ids, keep, strict=True) if k]
    kept_cats = [c for c, k in zip(base.categories, keep, strict=True) if k]
    return Features(
        build_id=_new_build_id(),
        vocab_id=base.vocab_id,
        X=sp.vstack(parts, format="csr").astype(np.float32),
        vocabulary=base.vocabulary,
        idf=base.idf,
        ids=kept_ids + [d.id for d in docs],
        published=np.concatenate([base.published[keep], [d.published for d in docs]]).astype(
            np.int64
        ),
        updated=np.concatenate([base.updated[keep], [d.updated for d in docs]]).astype(np.int64),
        categories=kept_cats + [d.categories for d in docs],
        params=base.params,
        fitted_docs=base.fitted_docs,
    )


def _new_build_id() -> str:
    """Sortable by creation time (nanoseconds), unique across processes."""
    ns = time.time_ns()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(ns // 1_000_000_000))
    return f"{stamp}.{ns % 1_000_000_000:09d}-{uuid.uuid4().hex[:6]}"
