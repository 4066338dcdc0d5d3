"""Words and n-grams of texts, and their counts over a vocabulary: the build's hot loop.

Gives exactly what scikit-learn's CountVectorizer gives for the same settings (lower case,
accents stripped, the token pattern, stop words, word n-grams; tested against it), several
times faster, because a chunk of texts is cut into n-grams by numpy rather than one Python
string per n-gram:
- each text is lower-cased (and its accents stripped) in Python; a text still not ASCII then
  keeps just the tokens the pattern finds in it (they are ASCII), so the whole chunk becomes
  one ASCII buffer;
- there, the pattern's tokens are exactly the runs of ASCII letters, digits and "_" of two or
  more characters that do not start with a digit: one `bytes.translate` and a diff find them;
- every token gets a 64-bit polynomial hash of its bytes (Horner's rule, vectorised over
  tokens), and an n-gram's hash is the hash of the n-gram's string "a b", composed from its
  tokens' hashes: a term's hash is the same whether read from a text or from a vocabulary;
- stop words and vocabulary terms are looked up by hash (`Table`). A polynomial hash modulo
  2**64 has constructed collisions (strings of thousands of characters built for it), but two
  terms of natural text sharing one is as unlikely as two random 64-bit numbers being equal.
Strings are made only for candidate terms, the first time a worker meets each (`Grams.name`).

Build workers import this module and `counting` alone (numpy and scipy, no scikit-learn): the
stop words come from the caller as a list (`stop_words`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

TOKEN_PATTERN = r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b"
_find = re.compile(TOKEN_PATTERN).findall
# ASCII letters, digits and "_" stay; every other byte becomes a space.
_WORD_BYTES = bytes(c if chr(c).isalnum() or c == ord("_") else 32 for c in range(128))
_WORD_BYTES += b" " * 128
_SPACE, _NINE = ord(" "), ord("9")
BASE = np.uint64(0x9E3779B97F4A7C15)  # odd: the hash is a polynomial in it, modulo 2**64


def strip_accents(text: str) -> str:
    """What scikit-learn's `strip_accents_unicode` gives (NFKD without combining marks),
    without its Python loop over every character."""
    if text.isascii():
        return text
    text = unicodedata.normalize("NFKD", text)
    other = {c for c in set(text) if not c.isascii()}
    marks = {c for c in other if unicodedata.combining(c)}
    if len(marks) == len(other):  # only marks to drop: the rest is ASCII
        return text.encode("ascii", errors="ignore").decode("ascii")
    return text.translate(dict.fromkeys(map(ord, marks))) if marks else text


def clean(text: str) -> bytes:
    """The text as the tokenizer reads it: lower case, accents stripped, ASCII."""
    text = text.lower()
    if not text.isascii():
        text = strip_accents(text)
        if not text.isascii():  # keep the pattern's own tokens: what its \b sees is Unicode
            text = " ".join(_find(text))
    return text.encode("ascii")


def _powers(count: int) -> np.ndarray:
    """BASE**0 .. BASE**(count - 1), modulo 2**64."""
    out = np.full(max(count, 1), BASE, dtype=np.uint64)
    out[0] = 1
    return np.cumprod(out, dtype=np.uint64)


def _horner(buffer: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The hash of each span buffer[start : start + length]: sum of byte_j * BASE**(len-1-j)."""
    short = lengths.astype(np.uint16) if lengths.max(initial=0) < 1 << 16 else lengths
    order = np.argsort(short, kind="stable")[::-1]  # longest first: the live ones a prefix
    s, n = starts[order], lengths[order]
    h = np.zeros(len(s), dtype=np.uint64)
    live = len(s)
    for k in range(int(n[0]) if len(n) else 0):
        live = int(np.count_nonzero(n[:live] > k))
        h[:live] = h[:live] * BASE + buffer[s[:live] + k]
    out = np.empty_like(h)
    out[order] = h
    return out


def term_hashes(terms: list[str]) -> np.ndarray:
    """The hash of each term's string (words joined by single spaces), as in `Grams`."""
    data = "".join(terms).encode("ascii", errors="replace")
    lengths = np.fromiter(map(len, terms), dtype=np.int64, count=len(terms))
    starts = np.cumsum(lengths) - lengths
    return _horner(np.frombuffer(data, dtype=np.uint8), starts, lengths)


class Table:
    """Columns of terms looked up by hash: a direct table of slots (four or more per term,
    chosen by the hash's top bits), with a binary search for terms that share a slot."""

    def __init__(self, hashes: np.ndarray) -> None:
        self.width = len(hashes)
        self._order = np.argsort(hashes, kind="stable")
        self._sorted = hashes[self._order]
        bits = max(12, int(np.ceil(np.log2(max(self.width, 1) * 4))))
        self._shift = np.uint64(64 - bits)
        slot = (hashes >> self._shift).astype(np.intp)
        alone = np.bincount(slot, minlength=1 << bits)[slot] == 1
        self._column = np.full(1 << bits, -1, dtype=np.int64)
        self._column[slot] = np.where(alone, np.arange(self.width), -2)  # -2: shared
        self._held = np.zeros(1 << bits, dtype=np.uint64)  # the hash a slot's column has
        self._held[slot[alone]] = hashes[alone]

    @classmethod
    def of(cls, terms: list[str]) -> Table:
        return cls(term_hashes(list(terms)))

    def find(self, hashes: np.ndarray) -> np.ndarray:
        """Column of each hash, -1 where it is no term of the table."""
        slot = (hashes >> self._shift).astype(np.intp)
        column = self._column[slot]
        shared = np.flatnonzero(column == -2)
        column[self._held[slot] != hashes] = -1  # also the shared slots' (searched below)
        if len(shared):
            h = hashes[shared]
            at = np.searchsorted(self._sorted, h).clip(max=self.width - 1)
            column[shared] = np.where(self._sorted[at] == h, self._order[at], -1)
        return column


@dataclass
class Grams:
    """The n-grams of a chunk of texts, in no particular order: the text (row) and hash of
    each, and where to read its string."""

    rows: np.ndarray  # int32
    hashes: np.ndarray  # uint64
    first: np.ndarray  # index of its first token
    size: np.ndarray  # its number of tokens
    _buffer: bytes
    _starts: np.ndarray  # byte offset and length of each token
    _lengths: np.ndarray

    def name(self, i: int) -> str:
        """The string of n-gram i."""
        t, n = int(self.first[i]), int(self.size[i])
        spans = zip(self._starts[t : t + n], self._lengths[t : t + n], strict=True)
        return " ".join(self._buffer[s : s + length].decode("ascii") for s, length in spans)


class Analyzer:
    """Terms of texts: their tokens (stop words removed), then 2-grams, 3-grams, ..."""

    def __init__(self, stop_words, ngram_max: int) -> None:
        if isinstance(stop_words, str):
            raise TypeError("stop_words: the words, not the name of a list")
        self.stop = frozenset(stop_words or ())
        self.ngram_max = ngram_max
        ascii_stop = sorted(w for w in self.stop if w.isascii())
        self._stop = Table.of(ascii_stop)  # other stop words never equal a token
        self._power = _powers(2)

    def __call__(self, text: str) -> list[str]:
        """The terms of one text as strings, in CountVectorizer's order."""
        tokens = [t for t in clean(text).decode("ascii").translate(_WORD_STR).split()]
        tokens = [t for t in tokens if len(t) > 1 and t[0] > "9" and t not in self.stop]
        terms = list(tokens)
        for n in range(2, self.ngram_max + 1):
            terms.extend(map(" ".join, zip(*(tokens[i:] for i in range(n)), strict=False)))
        return terms

    def grams(self, texts: list[str]) -> Grams:
        """Every n-gram of `texts` (see the module's docstring)."""
        cleaned = [clean(t) for t in texts]
        text = b" ".join(cleaned)  # a space between texts: no token spans two
        buffer = np.frombuffer(text.translate(_WORD_BYTES), dtype=np.uint8)
        edges = np.diff((buffer != _SPACE).view(np.int8), prepend=0, append=0)
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        lengths = ends - starts
        token = (lengths > 1) & (buffer[starts] > _NINE) if len(starts) else lengths > 1
        starts, lengths = starts[token], lengths[token]
        h = _horner(buffer, starts, lengths)
        if self._stop.width:
            kept = self._stop.find(h) < 0
            starts, lengths, h = starts[kept], lengths[kept], h[kept]
        sizes = np.fromiter(map(len, cleaned), dtype=np.int64, count=len(cleaned))
        offsets = np.cumsum(sizes + 1) - (sizes + 1)
        row = (np.searchsorted(offsets, starts, side="right") - 1).astype(np.int32)
        power = self._power  # shared by threads: grown by replacement, read through a local
        if len(power) < int(lengths.max(initial=0)) + 2:
            power = self._power = _powers(int(lengths.max()) + 2)
        parts = [(row, h, np.arange(len(h)), 1)]
        g = h
        for n in range(2, self.ngram_max + 1):
            m = len(h) - n + 1
            if m <= 0:
                break
            last = lengths[n - 1 :]
            g = g[:m] * power[last + 1] + np.uint64(_SPACE) * power[last] + h[n - 1 :]
            same = row[:m] == row[n - 1 :]
            parts.append((row[:m][same], g[same], np.flatnonzero(same), n))
        return Grams(
            rows=np.concatenate([p[0] for p in parts]),
            hashes=np.concatenate([p[1] for p in parts]),
            first=np.concatenate([p[2] for p in parts]),
            size=np.concatenate([np.full(len(p[0]), p[3], dtype=np.int16) for p in parts]),
            _buffer=text,
            _starts=starts,
            _lengths=lengths,
        )


_WORD_STR = {c: " " for c in range(128) if _WORD_BYTES[c] == _SPACE}


def count(analyze: Analyzer, table: Table, texts: list[str]) -> sp.csr_matrix:
    """Term counts of `texts` over `table`'s columns: float32 CSR, sorted indices."""
    m, _ = count_grams(analyze.grams(texts), table, len(texts))
    return m


def count_grams(g: Grams, table: Table, n: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """(counts of `g`'s terms over `table`'s columns, as float32 CSR of `n` rows; the column
    of each n-gram, -1 where none)."""
    columns = table.find(g.hashes)
    known = columns >= 0
    m = sp.csr_matrix(
        (np.ones(int(known.sum()), dtype=np.float32), (g.rows[known], columns[known])),
        shape=(n, table.width),
    )
    m.sum_duplicates()  # also sorts each row's columns
    return m, columns
