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


def test_meaning_of_papers_not_embedded_yet_is_estimated_from_their_words(monkeypatch):
    """Among the rows nearest in words, a least-squares line of meaning on words (within the
    embedded rows' range); elsewhere, and without words, the embedded rows' mean; embedded
    rows untouched; nothing to estimate from: unchanged."""
    monkeypatch.setattr(hybrid, "NEAR", 4)
    words = np.array([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.45, 0.35], dtype=np.float32)
    part = np.array([0.1, 0.1, 0.1, 0.0, 0.4, 0.6, 0.0, 0.0], dtype=np.float32)
    rows = np.array([0, 1, 2, -1, 4, 5, -1, -1])
    out = hybrid.fill_missing(part, rows, words)
    assert np.array_equal(out[rows >= 0], part[rows >= 0])
    # nearest 4 in words: rows 5, 6, 4, 7; the line through (0.4, 0.4) and (0.5, 0.6)
    assert np.allclose(out[[6, 7]], [0.5, 0.4])  # 0.3 (below row 4's 0.4) is kept at 0.4
    assert np.isclose(out[3], part[rows >= 0].mean())  # not among the nearest
    assert np.allclose(hybrid.fill_missing(part, rows, None)[[3, 6, 7]], 0.26)
    monkeypatch.setattr(hybrid, "NEAR", 5)
    allowed = np.array([True, True, True, True, True, False, True, True])
    among = hybrid.fill_missing(part, rows, words, allowed)  # nearest allowed: 6, 4, 7, 3, 2
    assert np.allclose(among[[3, 6, 7]], [0.25, 0.4, 0.325])  # the line through rows 2 and 4
    everywhere = np.arange(8)
    assert hybrid.fill_missing(part, everywhere, words) is part
    assert hybrid.fill_missing(part, -np.ones(8, dtype=int), words) is part


def test_a_falling_line_never_buries_the_best_words_match(monkeypatch):
    """Noise can make the fitted line fall with words: the estimate stays within the
    embedded rows' range, so the row with by far the most words in common is not buried."""
    monkeypatch.setattr(hybrid, "NEAR", 5)
    words = np.array([0.1, 0.2, 0.3, 0.4, 5.0], dtype=np.float32)
    part = np.array([0.4, 0.3, 0.2, 0.1, 0.0], dtype=np.float32)
    out = hybrid.fill_missing(part, np.array([0, 1, 2, 3, -1]), words)
    assert np.isclose(out[4], 0.1)  # the line would say -4.5
    assert np.argmax(words + out) == 4


def test_recommendations_estimate_meaning_for_papers_not_embedded(monkeypatch):
    """hybrid.svm hands its words' scores, the embedding rows and the filter to fill_missing
    and ranks by the estimate."""
    X, E, rows = corpus()
    rows = rows.copy()
    rows[::2] = -1
    seen = {}

    def spy(part, rows_, words, allowed=None):
        seen.update(rows=rows_, allowed=allowed)
        out = part.copy()
        out[rows_ < 0] = 100.0
        return out

    monkeypatch.setattr(hybrid, "fill_missing", spy)
    allowed = np.ones(X.shape[0], dtype=bool)
    ranked = hybrid.svm(X, E, rows, 1.0, np.array([85, 87, 89]), k=10, allowed=allowed)
    assert seen["rows"] is rows and seen["allowed"] is allowed
    assert all(rows[r] < 0 for r in ranked.rows)


def test_tags_without_any_embedding_rank_by_words_and_authors():
    """During a first embedding run the newest tagged papers have no embedding: with none of
    them embedded there is nothing to learn meaning from, and the ranking is the words' (all
    zeros would teach the SVM that lacking an embedding marks what the user wants)."""
    X, E, rows = corpus()
    rows = rows.copy()
    pos = np.array([85, 86, 87, 88, 89])
    rows[pos] = -1
    ranked = hybrid.svm(X, E, rows, 3.0, pos, k=30)
    words_only = classifier.svm(X, pos, k=30)
    assert ranked.rows.tolist() == words_only.rows.tolist()
    np.testing.assert_allclose(ranked.scores, words_only.scores, rtol=1e-6)


def test_tagged_papers_not_embedded_yet_do_not_bend_meaning():
    """Four of five tagged papers of topic 2 lack an embedding: they count as the embedded
    tagged papers' meaning, so the list is topic 2 as when all five are embedded."""
    X, E, rows = corpus(1)
    pos = np.array([85, 86, 87, 88, 89])
    partial = rows.copy()
    partial[pos[1:]] = -1
    allowed = np.ones(X.shape[0], dtype=bool)
    allowed[pos] = False
    ranked = hybrid.svm(X, E, partial, 3.0, pos, k=20, allowed=allowed)
    assert all(r // AUTHORS % DIM == 2 for r in ranked.rows)
