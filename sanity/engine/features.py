"""TF-IDF features: what a build holds and how it vectorizes text, and fresh rows added to a
build (`sanity.engine.feature_build` makes a whole build).

A build holds the float32 CSR matrix (rows l2-normalised), the vocabulary, idf, the author
vocabulary (`sanity.engine.authors`: its columns follow the word columns), and per-row metadata
(paper id, published and updated times, categories); `sanity.engine.store` saves and loads it.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from sanity.engine import analyzer, ranking, stopwords
from sanity.engine.authors import Authors, combine, term_names, unit_rows

log = logging.getLogger(__name__)


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
    chunk: int = 1500
    author_weight: float = 0.0  # 0: no author block (config AUTHOR_WEIGHT sets the default)
    author_min_df: int = 2
    author_max_features: int = 200_000

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
            author_weight=float(cfg["AUTHOR_WEIGHT"]),
            author_min_df=int(cfg["AUTHOR_MIN_DF"]),
            author_max_features=int(cfg["AUTHOR_MAX_FEATURES"]),
        )

    def analyzer(self):
        return analyzer.Analyzer(stopwords.of(self.stop_words), self.ngram_max)

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
    authors: list[str] | tuple[str, ...] = ()  # as written; the author block's input


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
    authors: Authors = field(default_factory=Authors)  # columns after the words' columns
    index: dict[str, int] = field(default_factory=dict)
    _category_masks: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.index = {pid: row for row, pid in enumerate(self.ids)}
        self._lock = threading.Lock()
        self._analyzer = None
        self._table = None
        self._terms: list[str] | None = None
        self._author_norms: np.ndarray | None = None
        self._scales: tuple[np.ndarray, np.ndarray] | None = None
        self._primary: tuple[dict[str, int], np.ndarray] | None = None

    @property
    def n(self) -> int:
        return self.X.shape[0]

    @property
    def terms(self) -> list[str]:
        """A name per column: the words, then "author: Name" per author column."""
        if self._terms is None:
            self._terms = list(self.vocabulary) + term_names(self.authors)
        return self._terms

    def vectorize(self, texts: list[str], authors: list | None = None) -> sp.csr_matrix:
        """Rows for new texts (and their author lists) with this build's vocabularies and idf;
        authors absent from the build's author vocabulary count from the next refit."""
        words = self._words(texts)
        if not len(self.authors):
            return words
        block = self.authors.block(authors if authors is not None else [()] * len(texts))
        return combine(words, block, self.authors.weight)

    def _words(self, texts: list[str]) -> sp.csr_matrix:
        with self._lock:
            if self._analyzer is None:
                self._analyzer = self.params.analyzer()
                self._table = analyzer.Table.of(self.vocabulary)
        counts = analyzer.count(self._analyzer, self._table, texts)
        return weigh(counts, self.idf, self.params.sublinear_tf)

    @property
    def author_norms(self) -> np.ndarray:
        """Each row's author-part norm (0 for rows without author columns); cached. Read from
        the transpose's author rows in slices, so that no copy of them is made."""
        if self._author_norms is None:
            split, norms = len(self.vocabulary), np.zeros(self.n)
            if self.columns is not None:
                A = ranking.rows(self.columns, split, self.columns.shape[0])
                for s in range(0, A.nnz, 1 << 22):
                    d = np.asarray(A.data[s : s + (1 << 22)], dtype=np.float64)
                    rows = A.indices[s : s + (1 << 22)]
                    norms += np.bincount(rows, weights=d * d, minlength=self.n)[: self.n]
            elif self.X.shape[1] > split:
                A = self.X[:, split:]
                norms = np.asarray(A.multiply(A).sum(axis=1)).ravel()
            self._author_norms = np.sqrt(norms).astype(np.float32)
        return self._author_norms

    @property
    def part_scales(self) -> tuple[np.ndarray, np.ndarray]:
        """`ranking.part_scales` of the author norms (for similar papers); cached."""
        if self._scales is None:
            self._scales = ranking.part_scales(self.author_norms)
        return self._scales

    def primary_mask(self, category: str) -> np.ndarray:
        """Rows whose primary (first) category is `category` (a boolean mask)."""
        if self._primary is None:
            codes: dict[str, int] = {}
            firsts = (c.split(" ", 1)[0] for c in self.categories)
            rows = np.fromiter(
                (codes.setdefault(c, len(codes)) for c in firsts), dtype=np.int32, count=self.n
            )
            self._primary = (codes, rows)
        codes, rows = self._primary
        return rows == codes.get(category, -1)

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
    return unit_rows(X)


def with_rows(base: Features, docs: list[Doc]) -> Features:
    """A new build with `docs` vectorized by base's vocabulary (replacing rows of the same id)."""
    replaced = {d.id for d in docs}
    keep = np.array([pid not in replaced for pid in base.ids], dtype=bool)
    new_rows = base.vectorize([d.text for d in docs], [d.authors for d in docs]) if docs else None
    parts = [base.X[keep]] + ([new_rows] if new_rows is not None else [])
    kept_ids = [pid for pid, k in zip(base.ids, keep, strict=True) if k]
    kept_cats = [c for c, k in zip(base.categories, keep, strict=True) if k]
    return Features(
        build_id=new_build_id(),
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
        authors=base.authors,
    )


def new_build_id() -> str:
    """Sortable by creation time (nanoseconds), unique across processes."""
    ns = time.time_ns()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(ns // 1_000_000_000))
    return f"{stamp}.{ns % 1_000_000_000:09d}-{uuid.uuid4().hex[:6]}"
