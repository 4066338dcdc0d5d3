"""The build's two passes over the documents: document frequencies of n-grams and author
names, which choose the vocabularies, then term counts and author columns per chunk, spilled
to disk, optionally in worker processes (the tokenizer and the name normaliser are pure
Python: a second core halves the pass if the parent only reads the database).

Workers are spawned, not forked, so that they do not share (and count again) the memory of
the process that builds; counting workers receive the terms and the author vocabulary once,
when they start.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp

from sanity.engine import analyzer
from sanity.engine.authors import Authors, NameCounter

_state: dict = {}  # in a worker (or this process): analyzer, vocabulary, author vocabulary


def document_frequencies(
    docs: Iterator, params, names: NameCounter | None, stride: int = 1
) -> tuple[int, np.ndarray, np.ndarray]:
    """(number of docs, n-gram hashes, their document frequency among every `stride`-th doc),
    kept under `params.max_ngrams` distinct n-grams; author names (of every doc) are counted
    into `names` on the way. In this process: handing chunks to workers was measured slower."""
    analyze = params.analyzer()
    counter = FrequencyCounter(params.max_ngrams)
    batch: list[str] = []
    n = 0
    for n, doc in enumerate(docs, start=1):  # noqa: B007 - n is the count afterwards
        if (n - 1) % stride == 0:
            batch.append(doc.text)
            if len(batch) >= params.chunk:
                counter.add(analyze.grams(batch))
                batch = []
        if names is not None:
            names.add(doc.authors)
    if batch:
        counter.add(analyze.grams(batch))
    hashes, counts = counter.result()
    return n, hashes, counts


_PAIR = np.uint64(0xD6E8FEB86659FD93)  # mixes a text's row into a hash: one key per pair


class FrequencyCounter:
    """Document frequencies of n-gram hashes, chunk by chunk, merged when they hold twice
    `limit` entries. Past `limit` distinct n-grams only the most frequent `limit // 2` or so
    are kept (lossy counting: the rare tail is what
    a vocabulary never needs), so memory stays bounded whatever the corpus."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.hashes = np.zeros(0, dtype=np.uint64)
        self.counts = np.zeros(0, dtype=np.int64)
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []
        self._size = 0

    def add(self, grams) -> None:
        """Count each n-gram once per text it occurs in."""
        _, once = np.unique(grams.hashes + grams.rows.astype(np.uint64) * _PAIR, return_index=True)
        hashes, counts = np.unique(grams.hashes[once], return_counts=True)
        self._pending.append((hashes, counts))
        self._size += len(hashes)
        if self._size > 2 * self.limit:
            self._merge()

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        self._merge()
        return self.hashes, self.counts

    def _merge(self) -> None:
        hashes = np.concatenate([self.hashes] + [h for h, _ in self._pending])
        counts = np.concatenate([self.counts] + [c for _, c in self._pending])
        self._pending, self._size = [], 0
        self.hashes, where = np.unique(hashes, return_inverse=True)
        self.counts = np.bincount(where, weights=counts).astype(np.int64)
        if len(self.hashes) > self.limit:
            kept = self.counts >= _floor(self.counts, self.limit // 2)
            self.hashes, self.counts = self.hashes[kept], self.counts[kept]
        self._size = len(self.hashes)


def _floor(counts: np.ndarray, keep: int) -> int:
    """The least count such that the n-grams counted at least that often are at most `keep`
    (whole levels of equal counts: which of a tied level to keep is not arbitrary)."""
    levels, sizes = np.unique(counts, return_counts=True)
    within = np.cumsum(sizes[::-1]) <= keep  # from the most frequent level down
    taken = int(np.count_nonzero(within))
    return int(levels[::-1][taken - 1]) if taken else int(levels[-1]) + 1


def setup(params, candidates: np.ndarray, authors: Authors) -> None:
    """What `count_chunk` counts with, in the process it runs in."""
    _state.update(
        analyze=params.analyzer(),
        table=analyzer.Table(candidates),
        named=np.zeros(len(candidates), dtype=bool),
        authors=authors,
    )


def count_chunk(texts: list[str], names: list):
    """(term counts as float32 CSR over the candidate terms, the author block or None,
    {author column: the first spelling seen under its own key}, {candidate: its string} for
    the candidates this process had not named yet) of a chunk of documents and their author
    lists."""
    table: analyzer.Table = _state["table"]
    grams = _state["analyze"].grams(texts)
    counts, columns = analyzer.count_grams(grams, table, len(texts))
    terms: dict[int, str] = {}
    found = np.flatnonzero(columns >= 0)
    new = found[~_state["named"][columns[found]]]
    if len(new):
        fresh, first = np.unique(columns[new], return_index=True)
        terms = {int(c): grams.name(int(i)) for c, i in zip(fresh, new[first], strict=True)}
        _state["named"][fresh] = True
    authors: Authors = _state["authors"]
    if not len(authors):
        return counts, None, {}, terms
    spelled: dict[int, str] = {}
    for paper in names:
        authors.note_spellings(paper, spelled)
    return counts, authors.block(names), spelled, terms


def pool(processes: int, params, candidates: np.ndarray, authors: Authors):
    """A pool of `processes` spawned workers set up for `count_chunk`, or None (and this
    process set up) for counting here."""
    if processes <= 1:
        setup(params, candidates, authors)
        return None
    return multiprocessing.get_context("spawn").Pool(
        processes, initializer=setup, initargs=(params, candidates, authors)
    )


def count_all(docs: Iterator, params, candidates: np.ndarray, authors: Authors, spill, processes=1):
    """Count the terms of the `candidates` hashes and authors per chunk of `params.chunk`
    docs into `spill` (in order, on `processes` workers if more than one); (document
    frequencies, total counts, each candidate's string or None if never seen, meta: ids,
    times, categories, author blocks). The author vocabulary's display names are settled."""
    width = len(candidates)
    df = np.zeros(width, dtype=np.int64)
    totals = np.zeros(width, dtype=np.float64)
    terms: list[str | None] = [None] * width
    meta: dict[str, list] = {"ids": [], "published": [], "updated": [], "categories": []}
    author_parts: list[sp.csr_matrix] = []
    spelled: dict[int, str] = {}
    pending: deque = deque()
    workers = pool(processes, params, candidates, authors)

    def take(result) -> None:
        m, block, spellings, names = result
        df[:] += np.bincount(m.indices, minlength=width)
        totals[:] += np.bincount(m.indices, weights=m.data, minlength=width)
        for column, name in names.items():
            terms[column] = terms[column] or name
        spill.append(m)
        if block is not None:
            author_parts.append(block)
        for col, name in spellings.items():  # chunks arrive in order: the first spelling wins
            spelled.setdefault(col, name)

    def flush(batch: list[str], names: list) -> None:
        if workers is None:
            take(count_chunk(batch, names))
            return
        pending.append(workers.apply_async(count_chunk, (batch, names)))
        while len(pending) > 2 * processes:
            take(pending.popleft().get())

    try:
        batch: list[str] = []
        batch_authors: list = []
        with_authors = len(authors) > 0
        for doc in docs:
            batch.append(doc.text)
            batch_authors.append(doc.authors if with_authors else ())
            meta["ids"].append(doc.id)
            meta["published"].append(doc.published)
            meta["updated"].append(doc.updated)
            meta["categories"].append(doc.categories)
            if len(batch) >= params.chunk:
                flush(batch, batch_authors)
                batch, batch_authors = [], []
        if batch:
            flush(batch, batch_authors)
        while pending:
            take(pending.popleft().get())
    finally:
        _state.clear()  # the vocabularies, if counted here
        if workers is not None:
            workers.terminate()  # their memory is not needed while the matrix is written
    spill.finish()
    authors.settle_names(spelled)
    meta["authors"] = author_parts
    return df, totals, terms, meta
