"""Words and n-grams of a text, and their counts over a vocabulary: the build's hot loop.

Gives exactly what scikit-learn's CountVectorizer gives for the same settings (lower case,
accents stripped, the token pattern, stop words, word n-grams in the same order; tested on
real abstracts), at about half its cost: n-grams are joined by `map`/`zip` in C rather than a
Python loop over slices, and counting looks terms up with `dict.get` instead of catching a
KeyError for every n-gram outside the vocabulary (most of them).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, strip_accents_unicode

TOKEN_PATTERN = r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b"
_find = re.compile(TOKEN_PATTERN).findall


def analyzer(stop_words, ngram_max: int) -> Callable[[str], list[str]]:
    """The terms of a text: its tokens (stop words removed), then its 2-grams, 3-grams, ..."""
    stop = frozenset(CountVectorizer(stop_words=stop_words).get_stop_words() or ())

    def analyze(text: str) -> list[str]:
        text = text.lower()
        if not text.isascii():
            text = strip_accents_unicode(text)
        tokens = [t for t in _find(text) if t not in stop] if stop else _find(text)
        terms = list(tokens)
        for n in range(2, ngram_max + 1):
            terms.extend(map(" ".join, zip(*(tokens[i:] for i in range(n)), strict=False)))
        return terms

    return analyze


def count(analyze, vocabulary: dict[str, int], texts: list[str]) -> sp.csr_matrix:
    """Term counts of `texts` over `vocabulary` (term -> column): float32 CSR, sorted indices."""
    get = vocabulary.get
    indices: list[int] = []
    indptr = [0]
    for text in texts:
        indices.extend(i for i in map(get, analyze(text)) if i is not None)
        indptr.append(len(indices))
    m = sp.csr_matrix(
        (
            np.ones(len(indices), dtype=np.float32),
            np.asarray(indices, dtype=np.int32),
            np.asarray(indptr, dtype=np.int64),
        ),
        shape=(len(texts), len(vocabulary)),
    )
    m.sum_duplicates()  # also sorts each row's columns
    return m
