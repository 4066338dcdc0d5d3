"""The build's analyzer and counter give exactly what scikit-learn's CountVectorizer gives."""

from __future__ import annotations

import random

import numpy as np
import pytest
from sklearn.feature_extraction.text import (
    ENGLISH_STOP_WORDS,
    CountVectorizer,
    strip_accents_unicode,
)

from sanity.engine import stopwords
from sanity.engine.analyzer import TOKEN_PATTERN, Analyzer, Table, count, strip_accents

TEXTS = [
    "",
    "a",
    "The",
    "Graph neural networks",
    "Schrödinger bridges for Diffusion Models: a Γ-convergence view of x_1 and X2 and ß",
    "Crème brûlée ﬁne-tuning of BERT-base (ca. 110M params) on the GLUE benchmark; F1=0.91",
    "We study the $\\mathcal{N}=4$ theory on $S^3 \\times \\mathbb{R}$. It is it is IT IS.",
    "Ångström-scale imaging, naïve Bayes, façade, Øresund, Łódź, İstanbul, ǅemal, ＡＢＣ wide",
    "under_score __init__ 3d 2x2 x 99 problems but a glitch ain't one, one one one",
    "αβγ-decay of ℌilbert spaces: μ-law,\tlog-αlpha\nnew-line _a a_ 1_ _1 ℵ0 x²y ﬃ",
    'tabs\tand\r\nnewlines,commas;semi:colons/slashes|pipes~tilde`back` quotes\' "double"',
]


def corpus(n: int = 300, seed: int = 3) -> list[str]:
    words = " ".join(TEXTS).split() + ["the", "of", "model", "learning", "data", "é", "ﬀ"]
    rng = random.Random(seed)
    return [" ".join(rng.choices(words, k=rng.randint(0, 120))) for _ in range(n)] + TEXTS


def test_accents_are_stripped_as_scikit_learn_strips_them():
    for text in corpus(100) + ["ℌ", "é", "e\u0301\u0327", "Ωmega", "ﬁ", "\u0301"]:
        assert strip_accents(text) == strip_accents_unicode(text)


@pytest.mark.parametrize("stop_words", ["english", None, ["model", "data", "é"]])
@pytest.mark.parametrize("ngram_max", [1, 2, 3])
def test_terms_and_counts_match_countvectorizer(stop_words, ngram_max):
    texts = corpus()
    reference = CountVectorizer(
        strip_accents="unicode",
        lowercase=True,
        stop_words=stop_words,
        token_pattern=TOKEN_PATTERN,
        ngram_range=(1, ngram_max),
        dtype=np.float32,
    )
    expected_terms = reference.build_analyzer()
    analyze = Analyzer(stopwords.of(stop_words), ngram_max)
    for text in texts:
        assert analyze(text) == expected_terms(text)

    terms = sorted({t for x in texts[::2] for t in analyze(x)})
    reference.set_params(vocabulary={t: i for i, t in enumerate(terms)})
    want = reference.transform(texts)
    got = count(analyze, Table.of(terms), texts)
    assert got.shape == want.shape and got.dtype == np.float32
    assert got.has_sorted_indices
    assert (got != want).nnz == 0
    assert got.nnz == want.nnz  # no explicit zeros either


def test_every_ngram_of_a_chunk_is_named_and_placed():
    """Each n-gram of the vectorised pass has the text, hash and string of one of the terms
    the string analyzer gives for that text: the same multiset, text by text."""
    texts = corpus(60)
    analyze = Analyzer(stopwords.of("english"), 3)
    grams = analyze.grams(texts)
    table = Table.of(sorted({t for x in texts for t in analyze(x)}))
    assert (table.find(grams.hashes) >= 0).all()
    for row, text in enumerate(texts):
        mine = np.flatnonzero(grams.rows == row)
        assert sorted(grams.name(i) for i in mine) == sorted(analyze(text))


def test_tables_find_terms_and_only_terms():
    rng = random.Random(5)
    words = [rng.choice("abc_") + "".join(rng.choices("abc_0123", k=rng.randint(1, 9)))
             for _ in range(30000)]  # fmt: skip
    terms = sorted(set(words[:20000]))
    table = Table.of(terms)
    found = table.find(Analyzer(None, 1).grams([" ".join("x" + w for w in words)]).hashes)
    assert (found == -1).all()  # "x" + word: no term
    hashes = Analyzer(None, 1).grams(terms).hashes  # one text per term, in order
    assert list(table.find(hashes)) == list(range(len(terms)))
    assert Table.of([]).find(hashes).tolist() == [-1] * len(terms)


def test_count_of_no_texts_and_an_empty_vocabulary():
    analyze = Analyzer(stopwords.of("english"), 2)
    assert count(analyze, Table.of([]), ["graph neural"]).shape == (1, 0)
    assert count(analyze, Table.of(["graph"]), []).shape == (0, 1)


def test_a_token_longer_than_any_index_of_sixteen_bits_is_one_term():
    token = "x" + "ab" * 35_000  # 70,001 characters: longer than 65,535
    analyze = Analyzer(None, 2)
    grams = analyze.grams([f"short {token} words"])
    assert sorted(grams.name(i) for i in range(len(grams.hashes))) == sorted(
        analyze(f"short {token} words")
    )
    table = Table.of([token, f"short {token}"])
    assert sorted(table.find(grams.hashes).tolist()) == [-1, -1, -1, 0, 1]


def test_stop_words_are_scikit_learns_and_settings_are_checked():
    assert stopwords.of("english") == frozenset(ENGLISH_STOP_WORDS)
    assert stopwords.of("") == frozenset() == stopwords.of(None)
    assert stopwords.of(["a", "b"]) == {"a", "b"}
    with pytest.raises(ValueError, match="TFIDF_STOP_WORDS"):
        stopwords.of("klingon")
