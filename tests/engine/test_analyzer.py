"""The build's analyzer and counter give exactly what scikit-learn's CountVectorizer gives."""

from __future__ import annotations

import random

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer

from sanity.engine.analyzer import TOKEN_PATTERN, analyzer, count

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
]


def corpus(n: int = 300, seed: int = 3) -> list[str]:
    words = " ".join(TEXTS).split() + ["the", "of", "model", "learning", "data", "é", "ﬀ"]
    rng = random.Random(seed)
    return [" ".join(rng.choices(words, k=rng.randint(0, 120))) for _ in range(n)] + TEXTS


@pytest.mark.parametrize("stop_words", ["english", None, ["model", "data"]])
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
    analyze = analyzer(stop_words, ngram_max)
    for text in texts:
        assert analyze(text) == expected_terms(text)

    vocabulary = {t: i for i, t in enumerate(sorted({t for x in texts[::2] for t in analyze(x)}))}
    reference.set_params(vocabulary=vocabulary)
    want = reference.transform(texts)
    got = count(analyze, vocabulary, texts)
    assert got.shape == want.shape and got.dtype == np.float32
    assert got.has_sorted_indices
    assert (got != want).nnz == 0
    assert got.nnz == want.nnz  # no explicit zeros either


def test_count_of_no_texts_and_an_empty_vocabulary():
    analyze = analyzer("english", 2)
    assert count(analyze, {}, ["graph neural"]).shape == (1, 0)
    assert count(analyze, {"graph": 0}, []).shape == (0, 1)
