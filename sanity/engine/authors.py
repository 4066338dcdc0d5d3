"""Author names as features: normalised whole names, a bounded vocabulary, a weighted block.

A name is keyed by its whole normalised spelling (case, Unicode and LaTeX accents, punctuation
and suffixes removed; first names kept as written). An initial-only spelling ("Y. LeCun") joins
a full name ("Yann LeCun") only when exactly one full name in the corpus fits it: an initial +
surname key would merge several different people. The block (binary presence x idf, rows
l2-normalised) sits beside the word columns, scaled by `author_weight`.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from sanity.latex import detex, fold

PREFIX = "author: "  # how an author column is named in explanations (`words`)

_SUFFIXES = {"jr", "sr", "ii", "iii", "iv", "v", "jnr", "snr"}
_APOSTROPHES = re.compile(r"['\u2019\u02bc`]")
_NOT_WORD = re.compile(r"[^0-9a-z]+")


def display(raw: str) -> str:
    """A name as people read it: LaTeX accents and letters turned into Unicode, braces gone."""
    if "\\" not in raw and "{" not in raw and "~" not in raw:
        return unicodedata.normalize("NFC", " ".join(raw.split()))
    text = detex(raw).replace("{", "").replace("}", "").replace("\\", "").replace("~", " ")
    return unicodedata.normalize("NFC", " ".join(text.split()))


_PLAIN = re.compile(r"[^\\{~,'`]*")  # ASCII without LaTeX, commas or apostrophes


@functools.lru_cache(maxsize=1 << 16)  # names recur across papers; bounded memory
def name_key(raw: str) -> str | None:
    """The normalised whole name ("Bal\\'azs, C. Jr." -> "c balazs"), None if nothing is left."""
    if raw.isascii() and _PLAIN.fullmatch(raw):  # most names: the steps below change nothing
        return _joined(_NOT_WORD.sub(" ", raw.lower()).split())
    text = display(raw)
    if not text.isascii():
        text = fold(text)
    text = _APOSTROPHES.sub("", text.lower())
    if "," in text:
        parts = [p for p in text.split(",") if p.strip()]
        parts = [p for p in parts if _NOT_WORD.sub("", p) not in _SUFFIXES] or parts
        text = " ".join([parts[1], parts[0]] if len(parts) == 2 else parts)  # "Surname, Given"
    return _joined(_NOT_WORD.sub(" ", text).split())


def _joined(tokens: list[str]) -> str | None:
    while len(tokens) > 2 and tokens[-1] in _SUFFIXES:
        tokens.pop()
    return " ".join(tokens) or None


def paper_keys(authors: Iterable[str]) -> list[str]:
    """A paper's distinct author keys, in paper order."""
    seen: dict[str, None] = {}
    for raw in authors:
        key = name_key(raw)
        if key:
            seen.setdefault(key, None)
    return list(seen)


def _signature(key: str) -> tuple[str, str] | None:
    """(initials of the given names, surname); None for a one-word name."""
    tokens = key.split()
    if len(tokens) < 2:
        return None
    return "".join(t[0] for t in tokens[:-1]), tokens[-1]


def _initial_only(key: str) -> bool:
    tokens = key.split()
    return len(tokens) >= 2 and all(len(t) == 1 for t in tokens[:-1])


@dataclass
class Authors:
    """The author vocabulary of a build: keys (column order), display names, idf, aliases."""

    keys: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    idf: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    aliases: dict[str, str] = field(default_factory=dict)  # initial-only key -> full key
    weight: float = 0.0

    def __post_init__(self) -> None:
        self.index = {k: i for i, k in enumerate(self.keys)}

    def __len__(self) -> int:
        return len(self.keys)

    def columns(self, authors: Iterable[str]) -> list[int]:
        """The vocabulary columns of a paper's authors (unknown names have none)."""
        out = []
        for key in paper_keys(authors):
            col = self.index.get(self.aliases.get(key, key))
            if col is not None and col not in out:
                out.append(col)
        return out

    def counts(self, papers: list[Iterable[str]]) -> sp.csr_matrix:
        """Binary paper x author presence."""
        indptr, indices = [0], []
        for authors in papers:
            indices.extend(self.columns(authors))
            indptr.append(len(indices))
        data = np.ones(len(indices), dtype=np.float32)
        return sp.csr_matrix((data, indices, indptr), shape=(len(papers), len(self)))

    def block(self, papers: list[Iterable[str]]) -> sp.csr_matrix:
        """The unweighted block: presence x idf, rows l2-normalised."""
        return self.weigh(self.counts(papers))

    def note_spellings(self, authors: Iterable[str], spelled: dict[int, str]) -> None:
        """Into `spelled`, a written spelling for each column seen under its own (full) key
        that has none yet."""
        for raw in authors:
            col = self.index.get(name_key(raw) or "")
            if col is not None and col not in spelled:
                spelled[col] = display(raw)

    def settle_names(self, spelled: dict[int, str]) -> None:
        """Display names from the spellings noted (keys stand in for names never seen)."""
        self.names = [spelled.get(i, k.title()) for i, k in enumerate(self.keys)]

    def weigh(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        X = counts.astype(np.float32, copy=True).tocsr()
        if X.shape[1]:
            X.data *= self.idf[X.indices]
        return unit_rows(X)


class NameCounter:
    """Papers per author key, bounded: when it outgrows `max_names` the rarest are dropped
    (lossy counting), so a name seen once early on may be missed; frequent ones never are."""

    def __init__(self, max_names: int) -> None:
        self.max_names = max(1000, max_names)
        self.counts: Counter = Counter()
        self.n = 0

    def add(self, authors: Iterable[str]) -> None:
        self.merge(paper_keys(authors), 1)

    def merge(self, keys: Iterable[str] | Counter, papers: int) -> None:
        """Count `papers` more papers, with these author keys (a Counter: papers per key)."""
        self.n += papers
        self.counts.update(keys)
        self._prune()

    def _prune(self) -> None:
        if len(self.counts) > self.max_names:
            floor = 2
            while len(self.counts) > self.max_names // 2:
                self.counts = Counter({k: c for k, c in self.counts.items() if c >= floor})
                floor += 1

    def vocabulary(self, min_df: int, max_features: int, weight: float) -> tuple[Authors, Counter]:
        """Join initial-only spellings to their one fitting full name, then keep the names in
        at least `min_df` papers (the most frequent `max_features`)."""
        counts = self.counts
        full = defaultdict(list)
        for key in counts:
            signature = _signature(key)
            if signature and not _initial_only(key):
                full[signature].append(key)
        aliases = {}
        for key in counts:
            if _initial_only(key):
                fits = full.get(_signature(key), [])
                if len(fits) == 1:
                    aliases[key] = fits[0]
        merged, self.counts = counts, Counter()  # merged in place: no second copy
        for short, long in aliases.items():
            merged[long] += merged.pop(short)
        lo = max(1, int(min_df)) if self.n >= 200 else 1
        eligible = [(c, k) for k, c in merged.items() if c >= lo]
        eligible.sort(key=lambda ck: (-ck[0], ck[1]))
        kept = sorted(k for _, k in eligible[: max(0, int(max_features))])
        df = np.array([merged[k] for k in kept], dtype=np.float64)
        idf = (np.log((1 + self.n) / (1 + df)) + 1).astype(np.float32)
        kept_set = set(kept)
        aliases = {s: f for s, f in aliases.items() if f in kept_set}
        vocab = Authors(keys=kept, names=list(kept), idf=idf, aliases=aliases, weight=weight)
        return vocab, merged


def combine(words: sp.csr_matrix, authors: sp.csr_matrix | None, weight: float) -> sp.csr_matrix:
    """Words beside `weight` x authors, each row l2-normalised again (dot product = cosine)."""
    if authors is None or authors.shape[1] == 0 or weight <= 0:
        return words
    X = sp.hstack([words, authors * np.float32(weight)], format="csr").astype(np.float32)
    return unit_rows(X)


def term_names(vocab: Authors) -> list[str]:
    """Column names for explanations: "author: Yann LeCun"."""
    return [PREFIX + name for name in vocab.names]


def unit_rows(X: sp.csr_matrix) -> sp.csr_matrix:
    """X (CSR) with each row scaled to unit length, in place; rows of zeros stay zero."""
    lengths = np.diff(X.indptr)
    filled = lengths > 0
    norms = np.ones(X.shape[0], dtype=np.float64)
    if X.nnz:
        squares = np.add.reduceat(X.data * X.data, X.indptr[:-1][filled], dtype=np.float64)
        norms[filled] = np.sqrt(squares)
        norms[norms == 0] = 1.0
    X.data /= np.repeat(norms, lengths)  # divided in float64, as scikit-learn's normalize
    return X
