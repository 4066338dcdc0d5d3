"""Pure rankers on a six-document corpus, without an app."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from sanity.engine import classifier, feature_build, features, ranking, store
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
    return feature_build.build(lambda: iter(docs), Params(min_df=1, max_df=1.0))


def test_top_k_orders_and_respects_the_mask():
    """top_k returns the best rows first and never a masked-out row."""
    scores = np.array([0.1, 0.9, 0.5, 0.7])
    assert list(ranking.top_k(scores, 2).rows) == [1, 3]
    allowed = np.array([True, False, True, True])
    got = ranking.top_k(scores, 10, allowed)
    assert list(got.rows) == [3, 2, 0] and list(got.scores) == [0.7, 0.5, 0.1]
    assert len(ranking.top_k(scores, 0)) == 0


def _reference_top_k(scores, k, allowed=None):
    """top_k by sorting every allowed row: best first, ties lower row first."""
    rows = np.flatnonzero(allowed) if allowed is not None else np.arange(len(scores))
    order = np.lexsort((rows, -scores[rows]))[:k]
    return rows[order]


@pytest.mark.parametrize("share", [1.0, 0.3, 0.001, 0.0])
def test_top_k_on_large_arrays_matches_a_full_sort(share):
    """Above SAMPLED_FROM only rows over a sampled threshold are sorted; the result is the
    full sort's, with ties (many equal scores) and masks allowing many, few or no rows."""
    rng = np.random.default_rng(9)
    n = ranking.SAMPLED_FROM * 3 + 17
    coarse = rng.integers(0, 50, n).astype(np.float32)  # heavy ties
    fine = rng.random(n).astype(np.float32)
    allowed = rng.random(n) < share
    for scores in (coarse, fine, np.zeros(n, np.float32)):
        for k in (1, 25, 400):
            for mask in (None, allowed):
                got = ranking.top_k(scores, k, mask)
                want = _reference_top_k(scores, k, mask)
                assert list(got.rows) == list(want)
                assert np.array_equal(got.scores, scores[want].astype(np.float64))


def test_products_split_over_threads_match_one_product(monkeypatch):
    """matvec and column_dot give the same numbers split by rows / terms over threads."""
    rng = np.random.default_rng(5)
    X = sp.random(5000, 300, density=0.03, format="csr", dtype=np.float32, random_state=rng)
    w = rng.standard_normal(300).astype(np.float32)
    columns = X.T.tocsr()
    terms = np.array([3, 17, 40, 41, 299])
    values = rng.random(5).astype(np.float32)
    one = (ranking.matvec(X, w), ranking.column_dot(columns, terms, values, X.shape[0]))
    monkeypatch.setattr(ranking, "PARALLEL_ROWS", 100)
    monkeypatch.setattr(ranking, "THREADS", 2)
    split = (ranking.matvec(X, w), ranking.column_dot(columns, terms, values, X.shape[0]))
    for a, b in zip(one, split, strict=True):
        assert a.dtype == np.float32 and np.allclose(a, b, atol=1e-6)
    assert np.allclose(split[0], X.toarray() @ w, atol=1e-5)
    assert np.allclose(split[1], X[:, terms].toarray() @ values, atol=1e-6)
    part = ranking.rows(X, 1000, 2500)
    assert (part != X[1000:2500]).nnz == 0


def test_a_filter_leaving_few_rows_scores_only_those(monkeypatch):
    """A time window (the newest rows), a scattered category, nothing at all, or most rows:
    the allowed rows score exactly as in the full product, the others are never picked."""
    monkeypatch.setattr(ranking, "PARALLEL_ROWS", 50)
    rng = np.random.default_rng(8)
    X = sp.random(1000, 40, density=0.1, format="csr", dtype=np.float32, random_state=rng)
    w = rng.standard_normal(40).astype(np.float32)
    full = ranking.matvec(X, w)
    newest = np.arange(1000) >= 880
    newest[900] = False  # an excluded paper inside the window
    for allowed in (newest, rng.random(1000) < 0.05, np.zeros(1000, bool), rng.random(1000) < 0.9):
        got = ranking.allowed_matvec(X, w, allowed)
        assert np.allclose(got[allowed], full[allowed], atol=1e-6)
        top = ranking.top_k(got, 10, allowed).rows
        assert list(top) == list(ranking.top_k(full, 10, allowed).rows)


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
    got = classifier.svm(
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
    got = classifier.svm(built.X, np.array([2]), np.array([0, 1]), k=6, n_sampled=0)
    assert got.rows[0] in (2, 3)
    assert got.scores[0] >= got.scores[-1]


def test_svm_without_positives_is_empty(built):
    """No positives: nothing to learn, an empty ranking (not an error)."""
    assert len(classifier.svm(built.X, np.array([]), None, k=5)) == 0


def test_exemplar_svm_matches_the_twin(built):
    """arxiv-sanity-lite's exemplar SVM also finds the twin of a document."""
    allowed = np.ones(built.n, dtype=bool)
    allowed[0] = False
    got = classifier.exemplar_svm(built.X, 0, 1, allowed=allowed)
    assert got.rows[0] == 1


def test_explain_orders_positive_then_negative():
    """Words: strongest positive first, then strongest negative first."""
    w = np.array([0.5, -2.0, 1.5, -0.1, 0.0])
    vocab = ["a", "b", "c", "d", "e"]
    assert ranking.explain(w, vocab, 2) == [("c", 1.5), ("a", 0.5), ("b", -2.0), ("d", -0.1)]
    # ties: the lower column first among positives, the higher among negatives
    w = np.array([1.0, -1.0, 1.0, -1.0, 0.5])
    assert ranking.explain(w, list("abcde"), 1) == [("a", 1.0), ("d", -1.0)]


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


def _rows(*parts: list[float]) -> sp.csr_matrix:
    """Unit rows from [words..., authors...] values."""
    X = np.array(parts, dtype=np.float32)
    return sp.csr_matrix(X / np.linalg.norm(X, axis=1, keepdims=True))


def test_similar_does_not_penalise_papers_for_having_authors():
    """Same words as the query: a paper with an author column ties with one without; plain
    cosine over the combined row would rank the author-less one first."""
    # columns: w0, w1 | a0, a1
    X = _rows([1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 0, 0.9], [0, 1, 0, 0])
    norms = np.array([0, 0, 0.9 / np.linalg.norm([1, 1, 0.9]), 0], dtype=np.float32)
    got = ranking.similar(X, X[0], 3, split=2, allowed=np.array([0, 1, 1, 1], bool),
                          author_norms=norms)  # fmt: skip
    assert set(got.rows[:2]) == {1, 2}
    assert np.isclose(got.scores[0], got.scores[1], atol=1e-6)
    assert np.isclose(got.scores[0], 1.0, atol=1e-6)
    plain = ranking.cosine(X, X[0], 3, np.array([0, 1, 1, 1], bool))
    assert plain.scores[1] < plain.scores[0]  # what the unit parts fix


def test_similar_adds_shared_authors_by_weight_and_the_bonus_only_to_neighbours():
    # query shares words with 1 and 2 equally; 2 also shares the author a0
    X = _rows([1, 0, 1, 0], [1, 0, 0, 1], [1, 0, 1, 0], [0, 1, 0, 0])
    A = X[:, 2:]
    norms = np.sqrt(np.asarray(A.multiply(A).sum(axis=1)).ravel())
    allowed = np.array([0, 1, 1, 1], bool)
    none = ranking.similar(X, X[0], 3, split=2, allowed=allowed, author_norms=norms)
    assert np.isclose(none.scores[0], none.scores[1])  # words alike: a tie
    got = ranking.similar(X, X[0], 3, split=2, allowed=allowed, author_norms=norms,
                          author_weight=0.25)  # fmt: skip
    assert got.rows[0] == 2 and np.isclose(got.scores[0], 1.25, atol=1e-6)
    bonus = np.array([1, 1, 0, 1], dtype=bool)
    got = ranking.similar(X, X[0], 3, split=2, allowed=allowed, author_norms=norms,
                          author_weight=0.25, bonus=bonus, bonus_weight=0.5)  # fmt: skip
    assert got.rows[0] == 1  # 1.0 + 0.5 beats 1.25
    assert 3 not in got.rows[:2]  # no shared word: the bonus alone does not lift it
    assert got.scores[list(got.rows).index(3)] == 0


def test_similar_through_the_transpose_matches_the_full_product():
    rng = np.random.default_rng(4)
    X = sp.random(300, 200, density=0.05, format="csr", dtype=np.float32, random_state=rng)
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel()) + 1e-12
    X = sp.csr_matrix(sp.diags(1 / norms) @ X, dtype=np.float32)
    A = X[:, 150:]
    author_norms = np.sqrt(np.asarray(A.multiply(A).sum(axis=1)).ravel())
    args = {"split": 150, "author_norms": author_norms, "author_weight": 0.3}
    full = ranking.similar(X, X[7], 20, **args)
    fast = ranking.similar(X, X[7], 20, columns=X.T.tocsr(), **args)
    assert np.allclose(fast.scores, full.scores, atol=1e-5)
    assert list(fast.rows[:10]) == list(full.rows[:10])


def test_features_know_author_norms_and_primary_categories(tmp_path):
    """The same author norms from the memory-mapped transpose as from X; primary masks."""
    people = [["Ada Lovelace", "Alan Turing"], ["Ada Lovelace"], [], ["Grace Hopper"]] * 3
    cats = ["cs.LG stat.ML", "stat.ML cs.LG", "cs.LG", "math.OC"] * 3
    docs = [Doc(f"q{i}", CORPUS[i % 6], 1000 + i, 1000 + i, cats[i], people[i])
            for i in range(12)]  # fmt: skip
    built = feature_build.build(lambda: iter(docs), Params(min_df=1, max_df=1.0, author_weight=0.6))
    store.save(built, tmp_path)
    loaded = store.load(tmp_path)
    assert loaded.columns is not None
    assert np.allclose(loaded.author_norms, built.author_norms, atol=1e-6)
    assert (built.author_norms[[2, 6, 10]] == 0).all()  # no authors
    assert (built.author_norms[[0, 1, 3]] > 0).all()
    row = built.X[0].toarray().ravel()
    assert np.isclose(np.linalg.norm(row[len(built.vocabulary) :]), built.author_norms[0])
    assert list(np.flatnonzero(loaded.primary_mask("cs.LG"))) == [0, 2, 4, 6, 8, 10]
    assert not loaded.primary_mask("hep-th").any()
