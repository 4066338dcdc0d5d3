"""Linear SVM rankers (scikit-learn's liblinear): per-user recommendations and the classic
exemplar "similar". Apart from `ranking` so that what only builds or searches (the command line,
the build) does not import scikit-learn.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import LinearSVC

from sanity.engine.ranking import Ranking, allowed_matvec, cosine, empty, explain, top_k


def fit_svm(X_train, y, C: float) -> LinearSVC:
    """A fitted class-balanced LinearSVC; seeded, so that the same tags rank the same."""
    model = LinearSVC(
        C=C, class_weight="balanced", tol=1e-4, max_iter=2000, dual="auto", random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train, y)
    return model


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
        return empty()
    if len(neg_rows) == 0:  # nothing to contrast with: fall back to similarity
        return cosine(X, X[positives], k, allowed)
    train = sp.vstack([X[positives], X[neg_rows]], format="csr")
    y = np.concatenate([np.ones(len(positives)), np.zeros(len(neg_rows))])
    model = fit_svm(train, y, C)
    w = model.coef_.ravel().astype(np.float32)
    scores = allowed_matvec(X, w, allowed)
    scores += np.float32(model.intercept_[0])
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
