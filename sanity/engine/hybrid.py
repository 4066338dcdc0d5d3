"""Words, authors and meaning together: rankers over a feature build plus its embeddings.

Pure like `ranking`: arrays in, a Ranking out. The embeddings (`E`, float32 or float16,
l2-normalised, memory-mapped) have their own rows; `rows[i]` is the embedding row of feature
row i, or -1 for a paper not embedded yet, which then ranks by its words alone. The embedding
is appended to a paper's TF-IDF + author row as `weight` x E: an SVM learns from both, a
similarity adds `weight` x (cosine of meaning) to the cosine of words.

Recommendations lower the weight of meaning when the tagged papers are one person's work
(`author_share`): an interest in a person is carried by the author columns, which the dense
block would otherwise outweigh, while an interest in a topic gains from meaning."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from sanity.engine import classifier, ranking

BLOCK = 65_536  # float16 rows converted at a time: memory stays small on any corpus
NEAR = 2000  # rows nearest in words among which meaning is estimated for the unembedded


def aligned(ids: list[str], index: dict[str, int]) -> np.ndarray:
    """For each feature row (paper `ids[i]`), its embedding row in `index`, or -1."""
    return np.fromiter((index.get(pid, -1) for pid in ids), dtype=np.int64, count=len(ids))


def project(E: np.ndarray, v: np.ndarray) -> np.ndarray:
    """E @ v in float32 (float16 rows converted a block at a time)."""
    v = np.asarray(v, dtype=np.float32)
    if E.dtype == np.float32:
        return np.asarray(E @ v, dtype=np.float32)
    out = np.empty(E.shape[0], dtype=np.float32)
    for start in range(0, E.shape[0], BLOCK):
        out[start : start + BLOCK] = np.asarray(E[start : start + BLOCK], np.float32) @ v
    return out


def meaning_scores(E: np.ndarray, rows: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Per feature row, its embedding's dot product with `v` (0 where there is none)."""
    found = project(E, v)
    return np.where(rows >= 0, found[np.maximum(rows, 0)], np.float32(0))


def fill_missing(
    part: np.ndarray, rows: np.ndarray, words: np.ndarray | None, allowed: np.ndarray | None = None
) -> np.ndarray:
    """Meaning's part for the rows without an embedding yet (`rows` -1, 0 in `part`),
    estimated from their words, so that a paper not embedded yet neither sinks below every
    embedded one (meaning's cosines are mostly well above 0) nor rises above them: among the
    NEAR (`allowed`) rows the words score highest, where a list is decided, the least-squares
    line of meaning's part on the words' score over the embedded ones, kept within their
    range; elsewhere, and without words, the embedded rows' mean. (One line over all rows
    overshoots: it is fitted to papers that share almost no words with the query.)"""
    missing = rows < 0
    lacking = int(np.count_nonzero(missing))
    if lacking == 0 or lacking == len(rows):
        return part
    out = part.copy()
    out[missing] = part[~missing].mean()
    if words is None:
        return out
    near = _nearest(words, allowed)
    fit, fill = near & ~missing, near & missing
    if fill.any() and np.count_nonzero(fit) >= 2:
        x, y = words[fit].astype(np.float64), part[fit].astype(np.float64)
        centred = x - x.mean()
        spread = float(centred @ centred)
        slope = float(centred @ (y - y.mean())) / spread if spread > 0 else 0.0
        line = y.mean() + slope * (words[fill] - x.mean())
        out[fill] = np.clip(line, y.min(), y.max())
    return out


def _nearest(words: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
    """A mask of the NEAR rows (among `allowed`) with the highest words' scores."""
    candidates = np.arange(len(words)) if allowed is None else np.flatnonzero(allowed)
    if len(candidates) > NEAR:
        candidates = candidates[np.argpartition(-words[candidates], NEAR)[:NEAR]]
    near = np.zeros(len(words), dtype=bool)
    near[candidates] = True
    return near


def dense_rows(E: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The embeddings of some feature rows as float32 (zeros where there is none)."""
    out = np.zeros((len(rows), E.shape[1]), dtype=np.float32)
    have = rows >= 0
    out[have] = np.asarray(E[rows[have]], np.float32)
    return out


def _fill_mean(dense: np.ndarray, have: np.ndarray) -> None:
    """Give the rows not embedded yet (`have` False) the others' mean, in place: zeros would
    teach the SVM that having no embedding (the newest papers, during a first run) marks a
    class."""
    if have.any() and not have.all():
        dense[~have] = dense[have].mean(axis=0)


def _as_csr(dense: np.ndarray) -> sp.csr_matrix:
    """A dense block as CSR without searching it for zeros (scipy's conversion would)."""
    n, d = dense.shape
    indptr = np.arange(0, n * d + 1, d, dtype=np.int64)
    indices = np.tile(np.arange(d, dtype=np.int32), n)
    return sp.csr_matrix((dense.ravel(), indices, indptr), shape=(n, d))


def author_share(X: sp.csr_matrix, split: int | None, positives: np.ndarray) -> float:
    """How much `positives` are one author's papers: (those by their most common author - 1)
    / (positives - 1), from the author columns (from `split` on); 0 with one positive (nothing
    to tell from) or no author columns. 3 papers of one author: 1; 10 papers of a topic of
    which two share an author: 1/9; 2 papers with a co-author in common: 1 (their words and
    that name rank, not meaning)."""
    if split is None or split >= X.shape[1] or len(positives) < 2:
        return 0.0
    block = X[positives][:, split:].tocsr()
    block.sum_duplicates()
    block.eliminate_zeros()
    if not block.nnz:
        return 0.0
    most = int(np.bincount(block.indices).max())
    return (most - 1) / (len(positives) - 1)


def svm(
    X: sp.csr_matrix,
    E: np.ndarray,
    rows: np.ndarray,
    weight: float,
    positives,
    negatives=None,
    *,
    k: int = 25,
    C: float = 0.1,
    n_sampled: int = 3000,
    allowed: np.ndarray | None = None,
    vocabulary: list[str] | None = None,
    n_words: int = 10,
    seed: int = 0,
    split: int | None = None,
) -> ranking.Ranking:
    """`classifier.svm` on [words + authors | w x meaning]: the same training rows, the
    embedding columns appended; scoring one sparse and one dense mat-vec. With `split` (where
    the author columns begin) w is `weight` x (1 - `author_share` of the positives)."""
    n = X.shape[0]
    pos, neg = classifier.training_rows(n, positives, negatives, n_sampled, seed)
    if len(pos) == 0:
        return ranking.empty()
    weight *= 1.0 - author_share(X, split, pos)
    if not (rows[pos] >= 0).any():
        weight = 0.0  # no tagged paper embedded yet (a first run): nothing to learn meaning from
    if weight <= 0:  # meaning left out: the words' ranker, without 384 columns of zeros
        return classifier.svm(X, pos, negatives, k=k, C=C, n_sampled=n_sampled, allowed=allowed,
                              vocabulary=vocabulary, n_words=n_words, seed=seed)  # fmt: skip
    if len(neg) == 0:
        return similar(X, E, rows, weight, X[pos], dense_rows(E, rows[pos]), k, allowed)
    train_rows = np.concatenate([pos, neg])
    dense = dense_rows(E, rows[train_rows])
    _fill_mean(dense[: len(pos)], rows[pos] >= 0)  # each class its own mean
    _fill_mean(dense[len(pos) :], rows[neg] >= 0)
    dense *= np.float32(weight)
    train = sp.hstack([X[train_rows], _as_csr(dense)], format="csr")
    y = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
    model = classifier.fit_svm(train, y, C)
    w = model.coef_.ravel().astype(np.float32)
    words, meaning = w[: X.shape[1]], w[X.shape[1] :]
    by_words = ranking.matvec(X, words)
    part = np.float32(weight) * meaning_scores(E, rows, meaning)
    scores = by_words + fill_missing(part, rows, by_words, allowed)
    scores += np.float32(model.intercept_[0])
    ranked = ranking.top_k(scores, k, allowed)
    ranked.words = ranking.explain(words, vocabulary or [], n_words) if vocabulary else None
    return ranked


def similar(
    X: sp.csr_matrix,
    E: np.ndarray,
    rows: np.ndarray,
    weight: float,
    query: sp.spmatrix,
    meaning: np.ndarray | None,
    k: int,
    allowed: np.ndarray | None = None,
    columns: sp.csr_matrix | None = None,
) -> ranking.Ranking:
    """Cosine of words (+ authors) plus `weight` x cosine of meaning; `meaning` is the query's
    embedding (or several to average), None when it has none (words alone). Papers not
    embedded yet: meaning estimated from their words (`fill_missing`)."""
    words = _words_cosine(X, query, columns)
    part = fill_missing(meaning_part(E, rows, weight, meaning), rows, words, allowed)
    return ranking.top_k(words + part, k, allowed)


def _words_cosine(X, query, columns=None) -> np.ndarray:
    """Each row's dot product with the query rows' normalised mean (zeros without words)."""
    q = np.asarray(query.mean(axis=0)).ravel().astype(np.float32)
    norm = float(np.linalg.norm(q))
    if norm == 0:
        return np.zeros(X.shape[0], dtype=np.float32)
    q /= norm
    if columns is None:
        return ranking.matvec(X, q)
    terms = np.flatnonzero(q)
    return ranking.column_dot(columns, terms, q[terms], X.shape[0])


def meaning_part(E, rows, weight: float, meaning) -> np.ndarray:
    """`weight` x each feature row's cosine of meaning with the query's embedding (or the
    mean of several); zeros when the query has none."""
    part = np.zeros(len(rows), dtype=np.float32)
    if meaning is not None and len(meaning):
        v = np.asarray(meaning, dtype=np.float32).reshape(-1, E.shape[1]).mean(axis=0)
        if np.linalg.norm(v) > 0:
            v /= np.linalg.norm(v)
            part = np.float32(weight) * meaning_scores(E, rows, v)
    return part


def by_meaning(
    E: np.ndarray, v: np.ndarray, k: int, allowed: np.ndarray | None = None
) -> ranking.Ranking:
    """Embedding rows nearest to one query embedding (search by meaning)."""
    return ranking.top_k(project(E, v), k, allowed)
