"""Pure rankers on a six-document corpus, without an app."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from sanity.engine import features, ranking
from sanity.engine.features import Doc, Params

CORPUS = [
    "graph neural networks message passing on molecular graphs",
    "message passing graph neural networks for chemistry molecules",
    "diffusion models generate images by denoising score matching",
    "denoising diffusion probabilistic models for image synthesis",
    "reinforcement learning agents explore with intrinsic reward",
    "policy gradient reinforcement learning with reward shaping agents",
]


@pytest.fixture(scope="module")
def built() -> features.Features:
    docs = [Doc(f"p{i}", text, 1000 + i, 1000 + i, "cs.LG") for i, text in enumerate(CORPUS)]
    return features.build(lambda: iter(docs), Params(min_df=1, max_df=1.0))


def test_top_k_orders_and_respects_the_mask():
    """top_k returns the best rows first and never a masked-out row."""
    scores = np.array([0.1, 0.9, 0.5, 0.7])
    assert list(ranking.top_k(scores, 2).rows) == [1, 3]
    allowed = np.array([True, False, True, True])
    got = ranking.top_k(scores, 10, allowed)
    assert list(got.rows) == [3, 2, 0] and list(got.scores) == [0.7, 0.5, 0.1]
    assert len(ranking.top_k(scores, 0)) == 0


def test_cosine_finds_the_topical_neighbour(built):
    """The nearest neighbour of each document is its topical twin."""
    for row, twin in [(0, 1), (2, 3), (4, 5)]:
        allowed = np.ones(built.n, dtype=bool)
        allowed[row] = False
        got = ranking.cosine(built.X, built.X[row], 1, allowed)
        assert got.rows[0] == twin
        assert 0 < got.scores[0] <= 1


def test_cosine_of_new_text_uses_the_vocabulary(built):
    """A pasted text is vectorized with the build's vocabulary and ranked by topic."""
    got = ranking.cosine(built.X, built.vectorize(["denoising diffusion for images"]), 2)
    assert set(got.rows) == {2, 3}


def test_svm_ranks_the_positive_topic_first_and_explains(built):
    """An SVM on two positives ranks their topic first and names the words behind it."""
    allowed = np.ones(built.n, dtype=bool)
    allowed[[4]] = False
    got = ranking.svm(
        built.X, np.array([4]), np.array([0]), k=5, C=1.0, n_sampled=10, allowed=allowed,
        vocabulary=built.vocabulary,
    )  # fmt: skip
    assert got.rows[0] == 5
    assert 4 not in got.rows
    positive = [w for w, x in got.words if x > 0]
    negative = [w for w, x in got.words if x < 0]
    assert any("reinforcement" in w or "reward" in w or "agents" in w for w in positive[:5])
    assert negative and all(x < 0 for _, x in got.words[len(positive) :])


def test_svm_with_explicit_negatives_only(built):
    """With no sampling, explicit negatives alone train the model."""
    got = ranking.svm(built.X, np.array([2]), np.array([0, 1]), k=6, n_sampled=0)
    assert got.rows[0] in (2, 3)
    assert got.scores[0] >= got.scores[-1]


def test_svm_without_positives_is_empty(built):
    """No positives: nothing to learn, an empty ranking (not an error)."""
    assert len(ranking.svm(built.X, np.array([]), None, k=5)) == 0


def test_exemplar_svm_matches_the_twin(built):
    """arxiv-sanity-lite's exemplar SVM also finds the twin of a document."""
    allowed = np.ones(built.n, dtype=bool)
    allowed[0] = False
    got = ranking.exemplar_svm(built.X, 0, 1, allowed=allowed)
    assert got.rows[0] == 1


def test_explain_orders_positive_then_negative():
    """Words: strongest positive first, then strongest negative first."""
    w = np.array([0.5, -2.0, 1.5, -0.1, 0.0])
    vocab = ["a", "b", "c", "d", "e"]
    assert ranking.explain(w, vocab, 2) == [("c", 1.5), ("a", 0.5), ("b", -2.0), ("d", -0.1)]


def test_cosine_through_the_transpose_matches_the_full_product():
    """The term -> papers index gives the same neighbours and scores as X @ q."""
    rng = np.random.default_rng(3)
    X = sp.random(400, 300, density=0.05, format="csr", dtype=np.float32, random_state=rng)
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel()) + 1e-12
    X = sp.csr_matrix(sp.diags(1 / norms) @ X, dtype=np.float32)
    columns = X.T.tocsr()
    for seeds in ([5], [7, 8, 9]):
        full = ranking.cosine(X, X[seeds], 20)
        fast = ranking.cosine(X, X[seeds], 20, columns=columns)
        assert np.allclose(fast.scores, full.scores, atol=1e-6)
        assert set(fast.rows[:10]) == set(full.rows[:10])
