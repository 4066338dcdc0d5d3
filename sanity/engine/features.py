"""TF-IDF features: a memory-bounded build and fresh rows added to a build.

A build holds the float32 CSR matrix (rows l2-normalised), the vocabulary, idf, the author
vocabulary (`sanity.engine.authors`: its columns follow the word columns), and per-row metadata
(paper id, published and updated times, categories); `sanity.engine.store` saves and loads it.
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

from sanity.engine.authors import Authors, NameCounter, combine, term_names

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
        self._term_index = None
        self._terms: list[str] | None = None
        self._author_norms: np.ndarray | None = None
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
                self._term_index = {t: i for i, t in enumerate(self.vocabulary)}
        vectorizer = CountVectorizer(
            analyzer=self._analyzer, vocabulary=self._term_index, dtype=np.float32
        )
        return weigh(vectorizer.transform(texts), self.idf, self.params.sublinear_tf)

    @property
    def author_norms(self) -> np.ndarray:
        """Each row's author-part norm (0 for rows without author columns); cached."""
        if self._author_norms is None:
            split, A = len(self.vocabulary), None
            if self.columns is not None:
                A = self.columns[split:]
                squares = A.data.astype(np.float64) ** 2
                norms = np.bincount(A.indices, weights=squares, minlength=self.n)
            else:
                A = self.X[:, split:]
                norms = np.asarray(A.multiply(A).sum(axis=1)).ravel()
            self._author_norms = np.sqrt(norms[: self.n]).astype(np.float32)
        return self._author_norms

    def primary_mask(self, category: str) -> np.ndarray:
        """Rows whose primary (first) category is `category`, as 0/1 floats."""
        if self._primary is None:
            codes: dict[str, int] = {}
            firsts = (c.split(" ", 1)[0] for c in self.categories)
            rows = np.fromiter(
                (codes.setdefault(c, len(codes)) for c in firsts), dtype=np.int32, count=self.n
            )
            self._primary = (codes, rows)
        codes, rows = self._primary
        return (rows == codes.get(category, -1)).astype(np.float32)

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
    names = NameCounter(5 * params.author_max_features) if params.author_weight > 0 else None
    n, doc_freq = _document_frequencies(doc_source(), analyzer, params.max_ngrams, names)
    authors = Authors()
    if names is not None:
        authors, _ = names.vocabulary(
            params.author_min_df, params.author_max_features, params.author_weight
        )
    del names
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
    counts, df, meta = _count_all(doc_source(), analyzer, candidates, params.chunk, authors)
    keep = np.flatnonzero((df >= lo) & (df <= hi))
    if len(keep) > params.max_features:
        totals = np.asarray(counts.sum(axis=0)).ravel()[keep]
        keep = np.sort(keep[np.argsort(-totals, kind="stable")[: params.max_features]])
    if len(keep) < len(candidates):
        counts, df = counts[:, keep], df[keep]
    vocabulary = [candidates[i] for i in keep]
    idf = (np.log((1 + n) / (1 + df)) + 1).astype(np.float32)
    X = combine(weigh(counts, idf, params.sublinear_tf), meta["authors"], authors.weight)
    del counts, meta["authors"]
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
        authors=authors,
    )
    log.info(
        "features: built %d docs x %d terms + %d authors (%d nnz) in %.1fs",
        n, len(vocabulary), len(authors), X.nnz, time.monotonic() - started,
    )  # fmt: skip
    return features


def _document_frequencies(
    docs: Iterable[Doc], analyzer, max_ngrams: int, names: NameCounter | None
) -> tuple[int, Counter]:
    """(number of docs, n-gram -> document frequency), pruned to stay under max_ngrams; author
    names are counted into `names` on the way."""
    counts: Counter = Counter()
    n = 0
    for n, doc in enumerate(docs, start=1):  # noqa: B007 - n is the count afterwards
        counts.update(set(analyzer(doc.text)))
        if names is not None:
            names.add(doc.authors)
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


def _count_all(docs: Iterator[Doc], analyzer, terms: list[str], chunk: int, authors: Authors):
    vocabulary = {t: i for i, t in enumerate(terms)}
    df = np.zeros(len(terms), dtype=np.int64)
    parts: list[sp.csr_matrix] = []
    author_parts: list[sp.csr_matrix] = []
    meta: dict[str, list] = {"ids": [], "published": [], "updated": [], "categories": []}
    batch: list[str] = []
    batch_authors: list = []

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
        if len(authors):
            author_parts.append(authors.block(batch_authors))
        batch.clear()
        batch_authors.clear()

    for doc in docs:
        batch.append(doc.text)
        if len(authors):
            batch_authors.append(doc.authors)
            authors.note_spellings(doc.authors)
        meta["ids"].append(doc.id)
        meta["published"].append(doc.published)
        meta["updated"].append(doc.updated)
        meta["categories"].append(doc.categories)
        if len(batch) >= chunk:
            flush()
    flush()
    counts = sp.vstack(parts, format="csr") if parts else sp.csr_matrix((0, len(terms)))
    authors.settle_names()
    meta["authors"] = sp.vstack(author_parts, format="csr") if author_parts else None
    return counts.astype(np.float32), df, meta


def with_rows(base: Features, docs: list[Doc]) -> Features:
    """A new build with `docs` vectorized by base's vocabulary (replacing rows of the same id)."""
    replaced = {d.id for d in docs}
    keep = np.array([pid not in replaced for pid in base.ids], dtype=bool)
    new_rows = base.vectorize([d.text for d in docs], [d.authors for d in docs]) if docs else None
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
        authors=base.authors,
    )


def _new_build_id() -> str:
    """Sortable by creation time (nanoseconds), unique across processes."""
    ns = time.time_ns()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(ns // 1_000_000_000))
    return f"{stamp}.{ns % 1_000_000_000:09d}-{uuid.uuid4().hex[:6]}"
