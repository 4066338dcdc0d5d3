"""TF-IDF features: a memory-bounded build and fresh rows added to a build.

A build holds the float32 CSR matrix (rows l2-normalised), the vocabulary, idf, the author
vocabulary (`sanity.engine.authors`: its columns follow the word columns), and per-row metadata
(paper id, published and updated times, categories); `sanity.engine.store` saves and loads it.
"""

from __future__ import annotations

import gc
import logging
import math
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from sanity import memory
from sanity.engine import analyzer, counting, ondisk, ranking, stopwords
from sanity.engine.authors import Authors, NameCounter, combine, term_names, unit_rows

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


# ---- building ----


def build(
    doc_source, params: Params, out: Path | None = None, total: int = 0, processes: int = 1
) -> Features:
    """Choose the vocabulary by streaming document frequencies, then count and weigh in chunks.

    `doc_source()` returns a fresh iterator over all docs (it is walked twice). Memory stays
    bounded: the n-gram counter is pruned of its rarest entries whenever it outgrows
    `params.max_ngrams` (lossy counting), texts are handled one chunk at a time, and counts
    and the weighted matrix go to disk chunk by chunk (`sanity.engine.ondisk`). With `out`, the
    matrix and its transpose are left there as `.npy` files (`sanity.engine.store` publishes
    that folder) and the build maps them; without, they are read into memory.

    `total` (the expected number of docs) lets a large corpus choose its candidate terms from
    an even sample of VOCABULARY_SAMPLE docs (every count that decides is then exact), and
    both passes run on `processes` worker processes.
    """
    started = time.monotonic()
    processes = processes if total >= PARALLEL_FROM else 1
    collecting = gc.isenabled()
    gc.disable()  # millions of short-lived lists and sets, no cycles: collections only cost
    try:
        return _build(doc_source, params, out, total, processes, started)
    finally:
        if collecting:
            gc.enable()


VOCABULARY_SAMPLE = 100_000  # docs whose n-grams choose the candidate terms
PARALLEL_FROM = 50_000  # docs from which counting on worker processes pays for their start-up


def _build(doc_source, params: Params, out, total: int, processes: int, started) -> Features:
    workers = counting.Workers(processes, params.analyzer())
    try:
        return _build_with(doc_source, params, out, total, workers, started)
    finally:
        workers.close()


def _build_with(doc_source, params: Params, out, total: int, workers, started) -> Features:
    names = NameCounter(5 * params.author_max_features) if params.author_weight > 0 else None
    stride = max(1, math.ceil(total / VOCABULARY_SAMPLE))
    n, hashes, doc_freq = counting.document_frequencies(
        doc_source(), params, names, workers, stride
    )
    memory.trim()
    authors = Authors()
    if names is not None:
        authors, _ = names.vocabulary(
            params.author_min_df, params.author_max_features, params.author_weight
        )
    del names
    lo, hi = params.df_bounds(n)
    estimated = doc_freq * (n / max(1, len(range(0, n, stride))))  # sampled -> all docs
    eligible = np.flatnonzero((lo <= estimated) & (estimated <= hi))
    if not len(eligible):
        lo, hi = 1, n  # e.g. near-identical texts: every term too common; keep them all
        eligible = np.arange(len(hashes))
    # Candidates by document frequency; the final choice is by total term frequency (as
    # scikit-learn's max_features does), counted exactly in the second pass.
    wanted = int(params.max_features * 1.5)
    by_df = np.lexsort((hashes[eligible], doc_freq[eligible]))[::-1][:wanted]
    candidates = np.sort(hashes[eligible[by_df]])
    del hashes, doc_freq, estimated, eligible
    with tempfile.TemporaryDirectory(dir=out, prefix=".scratch-") as scratch:
        where = out if out is not None else Path(scratch)
        spill = ondisk.RowSpill(Path(scratch), "counts")
        try:
            df, totals, terms, meta = counting.count_all(
                doc_source(), params, candidates, authors, spill, workers
            )
            memory.trim()
            keep = _chosen(terms, df, totals, lo, hi, params.max_features)
            vocabulary = [terms[i] for i in keep]
            idf = (np.log((1 + n) / (1 + df[keep])) + 1).astype(np.float32)
            blocks = meta.pop("authors")
            shape = _write_matrix(where, spill, keep, df[keep], idf, params, blocks, authors)
        finally:
            spill.remove()
        if out is None:
            X, columns = _read_matrix(where, shape), None
        else:
            X, columns = (
                _read_matrix(where, shape, "X", "r"),
                _read_matrix(where, shape[::-1], "XT", "r"),
            )
    features = Features(
        build_id=new_build_id(),
        vocab_id=uuid.uuid4().hex[:12],
        X=X,
        columns=columns,
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


def _chosen(terms: list, df, totals, lo: int, hi: int, limit: int) -> np.ndarray:
    """The candidates kept as columns, in the vocabulary's (alphabetical) order: within the
    document-frequency limits, the `limit` most frequent by total count (ties: the first)."""
    named = [i for i, t in enumerate(terms) if t is not None]
    named = np.array(sorted(named, key=terms.__getitem__), dtype=np.int64)
    keep = named[(df[named] >= lo) & (df[named] <= hi)]
    if len(keep) > limit:
        keep = keep[np.sort(np.argsort(-totals[keep], kind="stable")[:limit])]
    return keep.astype(np.int64)


def _write_matrix(where: Path, spill, keep, df, idf, params: Params, author_parts, authors):
    """Weigh the spilled counts chunk by chunk into `where`/X.*.npy (and XT.*.npy), `df` being
    the kept columns' document frequencies; the shape."""
    rows = sum(r for r, _ in spill.chunks)
    width = len(df) + len(authors)
    # Entries per column, known before weighing: every counted term and author stays non-zero.
    column_nnz = np.zeros(width, dtype=np.int64)
    column_nnz[: len(df)] = df
    for block in author_parts:
        column_nnz[len(df) :] += np.bincount(block.indices, minlength=len(authors))
    writer = ondisk.CsrWriter(where, "X", rows, int(column_nnz.sum()))
    for i, counts in enumerate(spill):
        block = author_parts[i] if author_parts else None
        words = counts[:, keep]  # candidates' columns in the vocabulary's order
        words.sort_indices()
        chunk = combine(weigh(words, idf, params.sublinear_tf), block, authors.weight)
        writer.append(sp.csr_matrix(chunk, shape=(counts.shape[0], width)))
    writer.close()
    memory.trim()
    ondisk.write_transpose(where, rows, width, column_nnz)
    return rows, width


def _read_matrix(where: Path, shape: tuple, name: str = "X", mmap=None) -> sp.csr_matrix:
    parts = (
        np.load(where / f"{name}.{p}.npy", mmap_mode=mmap) for p in ("data", "indices", "indptr")
    )
    return sp.csr_matrix(tuple(parts), shape=shape, copy=False)


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
