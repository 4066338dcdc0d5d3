"""The build's two passes over the documents: document frequencies of n-grams and author
names, which choose the vocabularies, then term counts and author columns per chunk, spilled
to disk. Both passes hand their chunks to the same worker processes when there are any: the
tokenizer and the name normaliser are Python, and a second core halves a pass if the parent
only reads the database.

Workers are spawned, not forked, so that they do not share (and count again) the memory of
the process that builds. The counting pass's vocabularies reach each worker once, through a
file the worker reads on its first chunk.
"""

from __future__ import annotations

import multiprocessing
import pickle
import sys
import types
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from sanity import memory
from sanity.engine import analyzer
from sanity.engine.authors import Authors, NameCounter, paper_keys

_state: dict = {}  # in a worker (or this process): analyzer, vocabulary, author vocabulary


class Workers:
    """Chunks of work run on `processes` spawned workers (or here, with one), their results
    taken in order."""

    def __init__(self, processes: int, analyze: analyzer.Analyzer) -> None:
        self.processes = processes
        self._pending: deque = deque()
        self._pool = None
        if processes <= 1:
            start(analyze)
        else:
            context = multiprocessing.get_context("spawn")
            with _plain_main():
                self._pool = context.Pool(processes, initializer=start, initargs=(analyze, True))

    @property
    def spawned(self) -> bool:
        return self._pool is not None

    def submit(self, work, args: tuple, take) -> None:
        """`take(work(*args))`, now or once the chunks before it were taken."""
        if self._pool is None:
            take(work(*args))
            return
        self._pending.append((self._pool.apply_async(work, args), take))
        while len(self._pending) > 2 * self.processes:
            result, then = self._pending.popleft()
            then(result.get())

    def drain(self) -> None:
        while self._pending:
            result, then = self._pending.popleft()
            then(result.get())

    def close(self) -> None:
        _state.clear()  # the vocabularies, if counted here
        if self._pool is not None:
            self._pool.terminate()  # their memory is not needed while the matrix is written
            self._pool = None


@contextmanager
def _plain_main() -> Iterator[None]:
    """Spawn workers without this process's `__main__`: a spawned child imports it again
    first, and under the `sanity` command that is the whole command line (Flask, the web
    layer, scikit-learn: 2-3 s and about 130 MB a worker). A worker needs only this module."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def start(analyze: analyzer.Analyzer, worker: bool = False) -> None:
    """A worker's (or this process's) analyzer; a worker also hands its chunks' arrays back
    to the system when it frees them (measured at 100k: 380 MB a worker without)."""
    _state.clear()
    _state["analyze"] = analyze
    if worker:
        memory.return_large_blocks()


def document_frequencies(
    docs: Iterator, params, names: NameCounter | None, workers: Workers, stride: int = 1
) -> tuple[int, np.ndarray, np.ndarray]:
    """(number of docs, n-gram hashes, their document frequency among every `stride`-th doc),
    kept under `params.max_ngrams` distinct n-grams; author names (of every doc) are counted
    into `names` on the way, by the workers too (normalising a name costs about what cutting
    a text does, and every doc has names while only every `stride`-th text is read)."""
    counter = FrequencyCounter(params.max_ngrams)
    texts: list[str] = []
    authors: list = []

    def take(result) -> None:
        counted, named, papers = result
        if counted is not None:
            counter.add(counted)
        if names is not None:
            names.merge(named, papers)

    n = 0
    for n, doc in enumerate(docs, start=1):  # noqa: B007 - n is the count afterwards
        if (n - 1) % stride == 0:
            texts.append(doc.text)
        if names is not None:
            authors.append(doc.authors)
        if len(texts) >= params.chunk or len(authors) >= params.chunk:
            workers.submit(first_pass, (texts, authors), take)
            texts, authors = [], []
    if texts or authors:
        workers.submit(first_pass, (texts, authors), take)
    workers.drain()
    hashes, counts = counter.result()
    return n, hashes, counts


def first_pass(texts: list[str], authors: list):
    """(`frequencies` of `texts` or None, papers per author key of `authors`, the number of
    author lists) of a chunk; `authors` is empty when names are not counted."""
    counted = frequencies(texts) if texts else None
    return counted, Counter(k for paper in authors for k in paper_keys(paper)), len(authors)


def frequencies(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(distinct n-gram hashes of `texts`, the number of texts each occurs in). A (text,
    n-gram) pair is one 64-bit key: two pairs sharing one would lose a count, at the odds of
    a hash collision, in this estimate that only chooses candidates (their counts are exact)."""
    grams = _state["analyze"].grams(texts)
    _, once = np.unique(grams.hashes + grams.rows.astype(np.uint64) * _PAIR, return_index=True)
    return np.unique(grams.hashes[once], return_counts=True)


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

    def add(self, counted: tuple[np.ndarray, np.ndarray]) -> None:
        """Add a chunk's `frequencies`."""
        hashes, _ = counted
        self._pending.append(counted)
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


def prepare(candidates: np.ndarray, authors: Authors) -> None:
    """What `count_chunk` counts with, in the process it runs in."""
    _state.update(
        table=analyzer.Table(candidates),
        named=np.zeros(len(candidates), dtype=bool),
        authors=authors,
    )


def count_chunk(vocabularies: Path | None, texts: list[str], names: list):
    """(term counts as float32 CSR over the candidate terms, the author block or None,
    {author column: the first spelling seen under its own key}, {candidate: its string} for
    the candidates this process had not named yet) of a chunk of documents and their author
    lists. A worker first reads the `vocabularies` file."""
    if vocabularies is not None and _state.get("read") != vocabularies:
        with open(vocabularies, "rb") as f:
            prepare(*pickle.load(f))
        _state["read"] = vocabularies
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


def count_all(docs: Iterator, params, candidates: np.ndarray, authors: Authors, spill, workers):
    """Count the terms of the `candidates` hashes and authors per chunk of `params.chunk`
    docs into `spill` (in order, on `workers`); (document
    frequencies, total counts, each candidate's string or None if never seen, meta: ids,
    times, categories, author blocks). The author vocabulary's display names are settled."""
    width = len(candidates)
    df = np.zeros(width, dtype=np.int64)
    totals = np.zeros(width, dtype=np.float64)
    terms: list[str | None] = [None] * width
    meta: dict[str, list] = {"ids": [], "times": [], "categories": []}
    author_parts: list[sp.csr_matrix] = []
    spelled: dict[int, str] = {}
    vocabularies = None
    if workers.spawned:
        vocabularies = spill.directory / "vocabularies.pickle"
        with open(vocabularies, "wb") as f:
            pickle.dump((candidates, authors), f, protocol=pickle.HIGHEST_PROTOCOL)
    else:
        prepare(candidates, authors)

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
        workers.submit(count_chunk, (vocabularies, batch, names), take)

    try:
        batch: list[str] = []
        batch_authors: list = []
        times: list[tuple[int, int]] = []  # this chunk's; kept as int64 arrays per chunk
        with_authors = len(authors) > 0
        for doc in docs:
            batch.append(doc.text)
            batch_authors.append(doc.authors if with_authors else ())
            meta["ids"].append(doc.id)
            times.append((doc.published, doc.updated))
            meta["categories"].append(doc.categories)
            if len(batch) >= params.chunk:
                flush(batch, batch_authors)
                batch, batch_authors = [], []
                meta["times"].append(np.array(times, dtype=np.int64))
                times = []
        if batch:
            flush(batch, batch_authors)
            meta["times"].append(np.array(times, dtype=np.int64))
        workers.drain()
    finally:
        workers.close()
        if vocabularies is not None:
            vocabularies.unlink(missing_ok=True)
    spill.finish()
    authors.settle_names(spelled)
    times = np.concatenate(meta.pop("times")) if meta["times"] else np.zeros((0, 2), np.int64)
    meta["published"], meta["updated"] = times[:, 0].copy(), times[:, 1].copy()
    meta["authors"] = author_parts
    return df, totals, terms, meta
