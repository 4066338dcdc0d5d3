"""Words, authors and meaning together: how much meaning weighs in a recommendation."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from sanity.engine import classifier, hybrid

WORDS, AUTHORS, DIM = 50, 40, 8


def corpus(seed: int = 0):
    """400 papers: random words, one author each (author a wrote papers a, a+40, a+80, ...),
    and an embedding of a topic (paper // 40 % 8: each author writes on several topics)."""
    rng = np.random.default_rng(seed)
    n = 400
    words = sp.random(n, WORDS, density=0.1, random_state=seed, format="csr", dtype=np.float32)
    authors = sp.csr_matrix(
        (np.full(n, 0.6, dtype=np.float32), (np.arange(n), np.arange(n) % AUTHORS)),
        shape=(n, AUTHORS),
    )
    X = sp.hstack([words, authors], format="csr")
    topics = np.eye(DIM, dtype=np.float32)[np.arange(n) // AUTHORS % DIM]
    E = topics + 0.05 * rng.standard_normal((n, DIM)).astype(np.float32)
    E /= np.linalg.norm(E, axis=1, keepdims=True)
    return X, E, np.arange(n)


def test_author_share_counts_the_most_common_author_among_the_tagged_papers():
    X, _, _ = corpus()
    assert hybrid.author_share(X, WORDS, np.array([3, 43, 83])) == 1.0  # one author's papers
    assert hybrid.author_share(X, WORDS, np.array([3, 43, 5, 6])) == 1 / 3
    assert hybrid.author_share(X, WORDS, np.arange(10)) == 0.0  # ten authors
    assert hybrid.author_share(X, WORDS, np.array([3])) == 0.0  # one paper tells nothing
    assert hybrid.author_share(X, None, np.array([3, 43, 83])) == 0.0  # no author columns known
    assert hybrid.author_share(X, X.shape[1], np.array([3, 43, 83])) == 0.0


def test_one_authors_papers_are_recommended_by_author_not_drowned_by_meaning():
    """Papers 3, 43, 83 are author 3's, on topics 0, 1 and 2: a heavy meaning block fills the
    top with those topics; the adapted weight finds the author's other papers."""
    X, E, rows = corpus()
    pos = np.array([3, 43, 83])
    allowed = np.ones(X.shape[0], dtype=bool)
    allowed[pos] = False
    theirs = {int(r) for r in np.flatnonzero(np.arange(X.shape[0]) % AUTHORS == 3)} - set(pos)
    fixed = hybrid.svm(X, E, rows, 3.0, pos, k=len(theirs), allowed=allowed)
    adapted = hybrid.svm(X, E, rows, 3.0, pos, k=len(theirs), allowed=allowed, split=WORDS)
    assert len(theirs & set(fixed.rows.tolist())) <= len(theirs) // 2  # the topics won
    assert set(adapted.rows.tolist()) == theirs
    words_only = classifier.svm(X, pos, k=len(theirs), allowed=allowed)
    assert adapted.rows.tolist() == words_only.rows.tolist()  # meaning left out entirely


def test_a_topic_of_many_authors_keeps_the_full_weight_of_meaning():
    X, E, rows = corpus(1)
    pos = np.array([85, 86, 87, 88, 89])  # topic 2, five authors
    assert hybrid.author_share(X, WORDS, pos) == 0.0
    fixed = hybrid.svm(X, E, rows, 3.0, pos, k=20)
    adapted = hybrid.svm(X, E, rows, 3.0, pos, k=20, split=WORDS)
    assert adapted.rows.tolist() == fixed.rows.tolist()
    np.testing.assert_allclose(adapted.scores, fixed.scores, rtol=1e-6)
    assert all(r // AUTHORS % DIM == 2 for r in adapted.rows)  # meaning found the topic


def test_a_partly_one_authors_tags_weigh_meaning_in_proportion():
    """Four tagged papers, two of them one author's: share 1/3, so weight 3 trains and scores
    exactly as weight 2 without the adaptation (not all or nothing)."""
    X, E, rows = corpus(2)
    pos = np.array([3, 43, 5, 6])
    assert hybrid.author_share(X, WORDS, pos) == 1 / 3
    adapted = hybrid.svm(X, E, rows, 3.0, pos, k=30, split=WORDS)
    two = hybrid.svm(X, E, rows, 2.0, pos, k=30)
    full = hybrid.svm(X, E, rows, 3.0, pos, k=30)
    assert adapted.rows.tolist() == two.rows.tolist()
    np.testing.assert_allclose(adapted.scores, two.scores, rtol=1e-5)
    assert not np.allclose(adapted.scores, full.scores, rtol=1e-3)
