"""Pure rankers over a TF-IDF matrix: arrays in, a Ranking out. No Flask, no database.

Rows of X are l2-normalised, so a dot product is a cosine similarity.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import LinearSVC


@dataclass
class Ranking:
    """Best first: matrix rows, their scores, and optionally the words that drove the model."""

    rows: np.ndarray
    scores: np.ndarray
    words: list[tuple[str, float]] | None = None

    def __len__(self) -> int:
        return len(self.rows)


def top_k(scores: np.ndarray, k: int, allowed: np.ndarray | None = None) -> Ranking:
    """The k best-scoring rows among `allowed` (a boolean mask), best first."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    candidates = np.flatnonzero(allowed) if allowed is not None else np.arange(len(scores))
    if k <= 0 or len(candidates) == 0:
        return Ranking(np.array([], dtype=np.int64), np.array([]))
    values = scores[candidates]
    if len(candidates) > k:
        part = np.argpartition(-values, k - 1)[:k]
        candidates, values = candidates[part], values[part]
    order = np.lexsort((candidates, -values))  # ties: lower row first, deterministic
    return Ranking(candidates[order], values[order])


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
        return top_k(np.zeros(X.shape[0]), 0)
    q /= norm
    if columns is None:
        return top_k(X @ q, k, allowed)
    terms = np.flatnonzero(q)
    return top_k(columns[terms].T @ q[terms], k, allowed)


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
) -> Ranking:
    """Nearest neighbours of one row: the cosine of the words (columns before `split`), plus
    `author_weight` x the cosine of the author columns, plus `bonus[row]` for rows that share
    something with the query.

    Each part is compared as a unit vector of its own, so a paper's author block neither dilutes
    its words nor counts for more than `author_weight`. `author_norms` holds each row's
    author-part norm (rows are unit vectors, so the words' norm is the rest).
    """
    score = similar_scores(X, query, split=split, columns=columns, author_norms=author_norms,
                           author_weight=author_weight, bonus=bonus)  # fmt: skip
    if score is None:
        return top_k(np.zeros(X.shape[0]), 0)
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
) -> np.ndarray | None:
    """Every row's score for `similar` (None when the query has no words)."""
    q = np.asarray(query[:1].toarray()).ravel().astype(np.float32)
    score = _unit_dot(X, columns, q, 0, split)
    if score is None:
        return None
    if author_norms is not None:
        author_norms = np.asarray(author_norms, dtype=np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            word_norms = np.sqrt(np.clip(1.0 - author_norms**2, 0.0, 1.0))
            score = np.where(word_norms > 0, score / word_norms, 0.0)
            shared = _unit_dot(X, columns, q, split, len(q)) if author_weight > 0 else None
            if shared is not None:
                score += author_weight * np.where(author_norms > 0, shared / author_norms, 0.0)
    if bonus is not None:
        score += np.where(score > 0, bonus, 0.0)
    return score


def _unit_dot(X, columns, q: np.ndarray, lo: int, hi: int) -> np.ndarray | None:
    """Every row's dot product with q[lo:hi] made a unit vector (None when that part is 0)."""
    part = q[lo:hi]
    norm = float(np.linalg.norm(part))
    if norm == 0:
        return None
    terms = np.flatnonzero(part)
    values = part[terms] / norm
    terms += lo
    if columns is not None:
        return np.asarray(columns[terms].T @ values).ravel()
    return np.asarray(X[:, terms] @ values).ravel()


def fit_svm(X_train, y, C: float) -> LinearSVC:
    model = LinearSVC(C=C, class_weight="balanced", tol=1e-4, max_iter=2000, dual="auto")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train, y)
    return model


def explain(weights: np.ndarray, vocabulary: list[str], n: int) -> list[tuple[str, float]]:
    """The n strongest positive words (strongest first), then the n strongest negative ones."""
    if not len(vocabulary) or n <= 0:
        return []
    order = np.argsort(-weights, kind="stable")
    positive = [(vocabulary[i], float(weights[i])) for i in order[:n] if weights[i] > 0]
    negative = [(vocabulary[i], float(weights[i])) for i in order[::-1][:n] if weights[i] < 0]
    return positive + negative


def svm(
    X: sp.csr_matrix,
    positives: np.ndarray,
    negatives: np.ndarray | None = None,
    k: int = 25,
    C: float = 0.1,
    n_sampled: int = 3000,
    allowed: np.ndarray | None = None,
    vocabulary: list[str] | None = None,
    n_words: int = 10,
    seed: int = 0,
) -> Ranking:
    """Rank by a class-balanced linear SVM: positives vs explicit negatives plus a sample of the
    rest. Training costs O(positives + negatives + n_sampled), scoring one sparse mat-vec."""
    n = X.shape[0]
    positives, neg_rows = training_rows(n, positives, negatives, n_sampled, seed)
    if len(positives) == 0:
        return top_k(np.zeros(n), 0)
    if len(neg_rows) == 0:  # nothing to contrast with: fall back to similarity
        return cosine(X, X[positives], k, allowed)
    train = sp.vstack([X[positives], X[neg_rows]], format="csr")
    y = np.concatenate([np.ones(len(positives)), np.zeros(len(neg_rows))])
    model = fit_svm(train, y, C)
    w = model.coef_.ravel().astype(np.float32)
    scores = X @ w + float(model.intercept_[0])
    ranking = top_k(scores, k, allowed)
    ranking.words = explain(w, vocabulary or [], n_words) if vocabulary else None
    return ranking


def training_rows(
    n: int, positives, negatives=None, n_sampled: int = 3000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(positive rows, negative rows): the explicit negatives plus a seeded sample of the rest."""
    positives = np.unique(np.asarray(positives, dtype=np.int64))
    negatives = np.unique(np.asarray(negatives if negatives is not None else [], dtype=np.int64))
    negatives = np.setdiff1d(negatives, positives)
    if len(positives) == 0:
        return positives, negatives
    rng = np.random.default_rng(seed)
    pool = n - len(positives) - len(negatives)
    if pool > 0 and n_sampled > 0:
        draw = rng.choice(
            n, size=min(n, n_sampled + len(positives) + len(negatives)), replace=False
        )
        taken = np.isin(draw, positives) | np.isin(draw, negatives)
        sampled = draw[~taken][:n_sampled]
    else:
        sampled = np.array([], dtype=np.int64)
    return positives, np.concatenate([negatives, sampled]).astype(np.int64)


def exemplar_svm(X: sp.csr_matrix, row: int, k: int, C: float = 0.01, allowed=None) -> Ranking:
    """arxiv-sanity-lite's "similar": one positive against every other paper."""
    y = np.zeros(X.shape[0])
    y[row] = 1
    model = fit_svm(X, y, C)
    scores = X @ model.coef_.ravel() + float(model.intercept_[0])
    return top_k(scores, k, allowed)
