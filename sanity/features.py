"""TF-IDF feature artifacts: a memory-bounded build, atomic save, cached load, fresh updates.

A build is a directory `DATA_DIR/features/<build_id>/` holding the float32 CSR matrix (rows
l2-normalised), the vocabulary, idf, and per-row metadata (paper id, published and updated
times, categories). `DATA_DIR/features/CURRENT` names the live build; it is replaced
atomically, so readers always see a complete build.
"""

from __future__ import annotations

import heapq
import json
import logging
import math
import os
import shutil
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.preprocessing import normalize

log = logging.getLogger(__name__)

TOKEN_PATTERN = r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b"
CURRENT = "CURRENT"


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


# ---- storage ----


def _new_build_id() -> str:
    """Sortable by creation time (nanoseconds), unique across processes."""
    ns = time.time_ns()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(ns // 1_000_000_000))
    return f"{stamp}.{ns % 1_000_000_000:09d}-{uuid.uuid4().hex[:6]}"


def features_dir(data_dir: str | os.PathLike) -> Path:
    return Path(data_dir) / "features"


def _fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def save(features: Features, data_dir: str | os.PathLike, keep_builds: int = 2) -> Path:
    """Write a build to a temp directory, rename it into place, then switch CURRENT to it."""
    root = features_dir(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    final = root / features.build_id
    tmp = root / f".{features.build_id}.tmp-{os.getpid()}"
    try:
        tmp.mkdir()
        X = features.X
        for name in ("data", "indices", "indptr"):  # plain arrays: loaded by memory mapping
            np.save(tmp / f"X.{name}.npy", getattr(X, name))
        columns = X.T.tocsr()  # per term, the papers using it: similarity touches only those
        for name in ("data", "indices", "indptr"):
            np.save(tmp / f"XT.{name}.npy", getattr(columns, name))
        del columns
        for name in ("idf", "published", "updated"):
            np.save(tmp / f"{name}.npy", getattr(features, name))
        meta = {
            "shape": list(X.shape),
            "build_id": features.build_id,
            "vocab_id": features.vocab_id,
            "fitted_docs": features.fitted_docs,
            "params": asdict(features.params),
            "vocabulary": features.vocabulary,
            "ids": features.ids,
            "categories": features.categories,
        }
        _fsync_write(tmp / "meta.json", json.dumps(meta).encode())
        for path in tmp.iterdir():  # flush the matrix and arrays too before publishing
            with open(path, "rb+") as f:
                os.fsync(f.fileno())
        os.rename(tmp, final)
        pointer = root / f".{CURRENT}.tmp-{os.getpid()}"
        _fsync_write(pointer, features.build_id.encode())
        os.replace(pointer, root / CURRENT)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if exc.errno is None:  # numpy's short write: "N requested and M written"
            raise OSError(f"{exc} in {root} (is the disk full?)") from exc
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _prune(root, keep=[features.build_id], keep_builds=keep_builds)
    store = _stores.get(str(data_dir))
    if store is not None:
        store.invalidate()  # this process sees its own build at once
    return final


def _prune(root: Path, keep: list[str], keep_builds: int) -> None:
    builds = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")))
    for old in builds[:-keep_builds]:
        if old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)
    for tmp in root.glob(".*.tmp-*"):
        if time.time() - tmp.stat().st_mtime > 3600:
            shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink()


def current_build_id(data_dir: str | os.PathLike) -> str | None:
    try:
        return (features_dir(data_dir) / CURRENT).read_text().strip() or None
    except FileNotFoundError:
        return None


def load(data_dir: str | os.PathLike, build_id: str | None = None) -> Features | None:
    """Load a build (the current one by default); None if there is none yet."""
    build_id = build_id or current_build_id(data_dir)
    if not build_id:
        return None
    path = features_dir(data_dir) / build_id
    meta = json.loads((path / "meta.json").read_text())
    known = set(Params.__dataclass_fields__)
    return Features(
        build_id=meta["build_id"],
        vocab_id=meta["vocab_id"],
        X=_load_matrix(path, meta),
        columns=_load_matrix(path, meta, "XT") if (path / "XT.data.npy").exists() else None,
        vocabulary=meta["vocabulary"],
        idf=np.load(path / "idf.npy"),
        ids=meta["ids"],
        published=np.load(path / "published.npy"),
        updated=np.load(path / "updated.npy"),
        categories=meta["categories"],
        params=Params(**{k: v for k, v in meta["params"].items() if k in known}),
        fitted_docs=meta["fitted_docs"],
    )


def _load_matrix(path: Path, meta: dict, name: str = "X") -> sp.csr_matrix:
    """The TF-IDF matrix (or its transpose), memory-mapped read-only: every web worker on the
    machine shares one copy in the page cache, and a new build is ready without reading it
    all first."""
    if name == "X" and (path / "X.npz").exists():  # builds written before the split
        return sp.load_npz(path / "X.npz").tocsr().astype(np.float32, copy=False)
    parts = ("data", "indices", "indptr")
    data, indices, indptr = (np.load(path / f"{name}.{p}.npy", mmap_mode="r") for p in parts)
    shape = tuple(meta["shape"]) if name == "X" else tuple(reversed(meta["shape"]))
    return sp.csr_matrix((data, indices, indptr), shape=shape, copy=False)


class FeatureStore:
    """Per-process cache of the current build; swaps in a newer build when one appears."""

    CHECK_SECONDS = 1.0

    def __init__(self, data_dir: str) -> None:
        self.data_dir = data_dir
        self._features: Features | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        self._checked = 0.0

    def get(self) -> Features | None:
        now = time.monotonic()
        if self._features is not None and now - self._checked < self.CHECK_SECONDS:
            return self._features
        wanted = current_build_id(self.data_dir)
        self._checked = now
        if wanted is None or (self._features and self._features.build_id == wanted):
            return self._features
        # One thread loads; the others keep serving the old build meanwhile.
        if not self._lock.acquire(blocking=self._features is None):
            return self._features
        try:
            if not self._features or self._features.build_id != wanted:
                try:
                    self._features = load(self.data_dir, wanted)
                    log.info("features: loaded build %s (%d docs)", wanted, self._features.n)
                except FileNotFoundError:  # pruned between reading CURRENT and loading
                    self._checked = 0.0
        finally:
            self._lock.release()
        return self._features


_stores: dict[str, FeatureStore] = {}
_stores_lock = threading.Lock()


def store_for(data_dir: str) -> FeatureStore:
    with _stores_lock:
        return _stores.setdefault(data_dir, FeatureStore(data_dir))
