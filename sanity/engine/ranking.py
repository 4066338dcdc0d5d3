"""Pure rankers over a TF-IDF matrix: arrays in, a Ranking out. No Flask, no database.

Rows of X are l2-normalised, so a dot product is a cosine similarity.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass
class Ranking:
    """Best first: matrix rows, their scores, and optionally the words that drove the model."""

    rows: np.ndarray
    scores: np.ndarray
    words: list[tuple[str, float]] | None = None

    def __len__(self) -> int:
        return len(self.rows)


def top_k(scores: np.ndarray, k: int, allowed: np.ndarray | None = None) -> Ranking:
    """The k best-scoring rows among `allowed` (a boolean mask), best first; ties: lower row
    first. On large arrays only the rows at or above a threshold taken from an even sample are
    sorted: at least k rows reach it, so every row of the top k is among them."""
    scores = np.asarray(scores).ravel()
    if k <= 0 or len(scores) == 0:
        return empty()
    candidates = _above_sample_threshold(scores, k, allowed)
    if allowed is not None:
        candidates = candidates[allowed[candidates]]
    values = scores[candidates].astype(np.float64)
    if len(candidates) > k:
        kth = values[np.argpartition(-values, k - 1)[k - 1]]
        above = np.flatnonzero(values > kth)
        ties = np.flatnonzero(values == kth)[: k - len(above)]  # candidates ascend: lowest rows
        part = np.concatenate([above, ties])
        candidates, values = candidates[part], values[part]
    order = np.lexsort((candidates, -values))[:k]  # ties: lower row first, deterministic
    return Ranking(candidates[order], values[order])


def empty() -> Ranking:
    return Ranking(np.array([], dtype=np.int64), np.array([]))


SAMPLED_FROM = 50_000  # rows from which top_k sorts only the rows above a sampled threshold


def _above_sample_threshold(scores: np.ndarray, k: int, allowed) -> np.ndarray:
    """Row numbers worth sorting for the top k: all of them on small arrays; else those
    scoring at least the k-th best allowed score of every `stride`-th row."""
    n = len(scores)
    if n < SAMPLED_FROM:
        return np.arange(n)
    stride = max(1, n // (k * 512))
    sample = scores[::stride]
    if allowed is not None:
        sample = sample[allowed[::stride]]
    if len(sample) < k:
        return np.arange(n)
    threshold = np.partition(sample, len(sample) - k)[len(sample) - k]
    return np.flatnonzero(scores >= threshold)


THREADS = max(1, min(2, os.cpu_count() or 1))
PARALLEL_ROWS = 200_000  # rows from which a product is split over THREADS threads
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def matvec(X: sp.csr_matrix, w: np.ndarray) -> np.ndarray:
    """X @ w (float32), split by rows over THREADS threads on large matrices: scipy's loop
    lets go of the GIL, and one core alone is far from the memory's bandwidth."""
    w = np.asarray(w, dtype=np.float32)
    n = X.shape[0]
    if n < PARALLEL_ROWS or THREADS < 2:
        return np.asarray(X @ w, dtype=np.float32).ravel()
    out = np.empty(n, dtype=np.float32)
    cuts = np.linspace(0, n, THREADS + 1).astype(np.int64)

    def part(i: int) -> None:
        lo, hi = int(cuts[i]), int(cuts[i + 1])
        out[lo:hi] = rows(X, lo, hi) @ w

    list(_threads().map(part, range(THREADS)))
    return out


def allowed_matvec(X: sp.csr_matrix, w: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
    """X @ w for the rows `allowed` (a boolean mask) leaves; the others' scores are
    meaningless (-inf or their product). A filter leaving a small part of the rows scores only
    that part: the range of rows it spans when that is mostly allowed (a time window: the
    newest rows), else, when it is very selective, a copy of just those rows."""
    n = X.shape[0]
    if allowed is None or n < PARALLEL_ROWS:
        return matvec(X, w)
    wanted = np.flatnonzero(allowed)
    if len(wanted) > n * RANGE_SHARE:
        return matvec(X, w)
    out = np.full(n, -np.inf, dtype=np.float32)
    if not len(wanted):
        return out
    lo, hi = int(wanted[0]), int(wanted[-1]) + 1
    if hi - lo <= 2 * len(wanted):  # one range, mostly allowed: views, no copy
        out[lo:hi] = matvec(rows(X, lo, hi), w)
    elif len(wanted) <= n * COPY_SHARE:  # a few scattered rows (a rare category)
        out[wanted] = X[wanted] @ np.asarray(w, dtype=np.float32)
    else:
        return matvec(X, w)
    return out


RANGE_SHARE = 0.3  # a filter leaving at most this share of the rows, in one range: only those
COPY_SHARE = 0.05  # scattered: copied and scored alone up to this share (a copy per request)


def rows(X: sp.csr_matrix, lo: int, hi: int) -> sp.csr_matrix:
    """Rows lo..hi of X as views of its arrays. scipy's slicing, and its constructor for a
    view of less than half an array, copy them (600 ms for half a million rows)."""
    a, b = int(X.indptr[lo]), int(X.indptr[hi])
    part = sp.csr_matrix((hi - lo, X.shape[1]), dtype=X.dtype)
    part.indptr = (np.asarray(X.indptr[lo : hi + 1]) - a).astype(X.indices.dtype)
    part.indices = X.indices[a:b]
    part.data = X.data[a:b]
    return part


def _threads() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(THREADS, thread_name_prefix="ranking")
    return _pool


def cosine(
    X: sp.csr_matrix, query: sp.spmatrix, k: int, allowed=None, columns: sp.csr_matrix | None = None
) -> Ranking:
    """Nearest neighbours of one query vector (or the mean of several) by cosine similarity.

    With `columns` (X transposed) only the papers sharing a term with the query are touched,
    instead of every entry of X.
    """
    q = np.asarray(query.mean(axis=0)).ravel().astype(np.float32)
    norm = float(np.linalg.norm(q))
    if norm == 0:
        return empty()
    q /= norm
    if columns is None:
        return top_k(matvec(X, q), k, allowed)
    terms = np.flatnonzero(q)
    return top_k(column_dot(columns, terms, q[terms], X.shape[0]), k, allowed)


def similar(
    X: sp.csr_matrix,
    query: sp.spmatrix,
    k: int,
    *,
    split: int,
    allowed: np.ndarray | None = None,
    columns: sp.csr_matrix | None = None,
    author_norms: np.ndarray | None = None,
    author_weight: float = 0.0,
    bonus: np.ndarray | None = None,
    bonus_weight: float = 0.0,
) -> Ranking:
    """Nearest neighbours of one row: the cosine of the words (columns before `split`), plus
    `author_weight` x the cosine of the author columns, plus `bonus_weight` for rows in the
    `bonus` mask that share something with the query.

    Each part is compared as a unit vector of its own, so a paper's author block neither dilutes
    its words nor counts for more than `author_weight`. `author_norms` holds each row's
    author-part norm (rows are unit vectors, so the words' norm is the rest).
    """
    score = similar_scores(X, query, split=split, columns=columns, author_norms=author_norms,
                           author_weight=author_weight, bonus=bonus,
                           bonus_weight=bonus_weight)  # fmt: skip
    if score is None:
        return empty()
    return top_k(score, k, allowed)


def similar_scores(
    X: sp.csr_matrix,
    query: sp.spmatrix,
    *,
    split: int,
    columns: sp.csr_matrix | None = None,
    author_norms: np.ndarray | None = None,
    author_weight: float = 0.0,
    bonus: np.ndarray | None = None,
    bonus_weight: float = 0.0,
    scales: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray | None:
    """Every row's score for `similar` (None when the query has no words); `bonus` is a
    boolean mask of the rows that get `bonus_weight` if they share something with the query.
    `scales` are `part_scales(author_norms)`, for a caller that keeps them."""
    q = np.asarray(query[:1].toarray()).ravel().astype(np.float32)
    score = _unit_dot(X, columns, q, 0, split)
    if score is None:
        return None
    if scales is None and author_norms is not None:
        scales = part_scales(author_norms)
    if scales is not None:
        word_scale, author_scale = scales
        score *= word_scale
        if author_weight > 0 and columns is not None:
            _add_authors(score, columns, q, split, author_scale, author_weight)
        elif author_weight > 0 and (shared := _unit_dot(X, columns, q, split, len(q))) is not None:
            shared *= author_scale
            shared *= np.float32(author_weight)
            score += shared
    if bonus is not None and bonus_weight:
        score[bonus & (score > 0)] += np.float32(bonus_weight)
    return score


def part_scales(author_norms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, 1 / the norm of its words' part and 1 / that of its authors' part (0 for an
    empty part): each part of a row scaled to a unit vector. Rows are unit vectors, so the
    words' norm is what the authors' leaves."""
    authors = np.asarray(author_norms, dtype=np.float32)
    words = np.sqrt(np.clip(1.0 - authors**2, 0.0, 1.0))
    with np.errstate(divide="ignore"):
        return (
            np.where(words > 0, 1.0 / words, 0.0).astype(np.float32),
            np.where(authors > 0, 1.0 / authors, 0.0).astype(np.float32),
        )


def _unit_dot(X, columns, q: np.ndarray, lo: int, hi: int) -> np.ndarray | None:
    """Every row's dot product with q[lo:hi] made a unit vector (None when that part is 0)."""
    part = q[lo:hi]
    norm = float(np.linalg.norm(part))
    if norm == 0:
        return None
    terms = np.flatnonzero(part)
    values = (part[terms] / norm).astype(np.float32)
    terms += lo
    if columns is not None:
        return column_dot(columns, terms, values, X.shape[0])
    return np.asarray(X[:, terms] @ values, dtype=np.float32).ravel()


def _add_authors(score, columns, q: np.ndarray, split: int, scale, weight: float) -> None:
    """score += weight x scale x each row's dot product with the author part q[split:] made a unit
    vector, from the transpose: an author column reaches a few papers, so only those are
    touched (not a product and three passes over every row)."""
    part = q[split:]
    norm = float(np.linalg.norm(part))
    if norm == 0:
        return
    terms = np.flatnonzero(part)
    starts, ends = columns.indptr[terms + split], columns.indptr[terms + split + 1]
    rows = np.concatenate([columns.indices[a:b] for a, b in zip(starts, ends, strict=True)])
    values = np.concatenate(
        [columns.data[a:b] * (part[t] / norm) for t, a, b in zip(terms, starts, ends, strict=True)]
    )
    np.add.at(score, rows, (values * scale[rows] * weight).astype(np.float32))


def column_dot(columns: sp.csr_matrix, terms: np.ndarray, values: np.ndarray, n: int):
    """Every row's dot product with a sparse query (`terms`, `values`), from the transposed
    matrix: only the papers using one of the terms are read. On large builds the terms are
    shared between THREADS threads, balanced by the papers each term reaches."""
    if n < PARALLEL_ROWS or THREADS < 2 or len(terms) < 2:
        return np.asarray(columns[terms].T @ values, dtype=np.float32).ravel()
    sizes = np.cumsum(np.diff(columns.indptr)[terms])
    cut = int(np.searchsorted(sizes, sizes[-1] / 2)) + 1
    groups = [(terms[:cut], values[:cut]), (terms[cut:], values[cut:])]

    def part(group) -> np.ndarray:
        t, v = group
        return np.asarray(columns[t].T @ v, dtype=np.float32).ravel()

    first, second = _threads().map(part, groups)
    first += second
    return first


def explain(weights: np.ndarray, vocabulary: list[str], n: int) -> list[tuple[str, float]]:
    """The n strongest positive words (strongest first, ties: lower column first), then the n
    strongest negative ones (ties: higher column first)."""
    if not len(vocabulary) or n <= 0:
        return []
    weights = np.asarray(weights)
    up = top_k(weights, n).rows
    down = len(weights) - 1 - top_k(-weights[::-1], n).rows
    positive = [(vocabulary[i], float(weights[i])) for i in up if weights[i] > 0]
    negative = [(vocabulary[i], float(weights[i])) for i in down if weights[i] < 0]
    return positive + negative
