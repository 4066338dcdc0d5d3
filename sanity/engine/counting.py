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
from collections import Counter, deque
from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp

from sanity.engine import analyzer
from sanity.engine.authors import Authors, NameCounter

_state: dict = {}  # in a worker (or this process): analyzer, vocabulary, author vocabulary


def document_frequencies(
    docs: Iterator, params, names: NameCounter | None, stride: int = 1
) -> tuple[int, Counter]:
    """(number of docs, n-gram -> document frequency among every `stride`-th doc), pruned to
    stay under `params.max_ngrams`; author names (of every doc) are counted into `names` on
    the way. In this process: handing chunks to workers was measured slower (merging their
    counters costs the parent more than the analysis it hands over)."""
    analyze = params.analyzer()
    counts: Counter = Counter()
    n = 0
    for n, doc in enumerate(docs, start=1):  # noqa: B007 - n is the count afterwards
        if (n - 1) % stride == 0:
            counts.update(set(analyze(doc.text)))
        if names is not None:
            names.add(doc.authors)
        if len(counts) > params.max_ngrams:
            counts = _pruned(counts, params.max_ngrams // 2)
    return n, counts


def _pruned(counts: Counter, keep: int) -> Counter:
    """The most frequent `keep` or so n-grams; the rare tail is what a vocabulary never needs."""
    by_count = Counter(counts.values())
    kept, floor = 0, max(by_count) + 1
    for value in sorted(by_count, reverse=True):
        if kept + by_count[value] > keep:
            break
        kept += by_count[value]
        floor = value
    return Counter({t: c for t, c in counts.items() if c >= floor})


def setup(params, terms: list[str], authors: Authors) -> None:
    """What `count_chunk` counts with, in the process it runs in."""
    _state.update(
        analyze=params.analyzer(),
        vocabulary={t: i for i, t in enumerate(terms)},
        width=len(terms),
        authors=authors,
    )


def count_chunk(texts: list[str], names: list) -> tuple[sp.csr_matrix, sp.csr_matrix | None, dict]:
    """(term counts as float32 CSR, the author block or None, {author column: the first
    spelling seen under its own key}) of a chunk of documents and their author lists."""
    if _state["width"]:
        counts = analyzer.count(_state["analyze"], _state["vocabulary"], texts)
    else:
        counts = sp.csr_matrix((len(texts), 0), dtype=np.float32)
    authors: Authors = _state["authors"]
    if not len(authors):
        return counts, None, {}
    spelled: dict[int, str] = {}
    for paper in names:
        authors.note_spellings(paper, spelled)
    return counts, authors.block(names), spelled


def pool(processes: int, params, terms: list[str], authors: Authors):
    """A pool of `processes` spawned workers set up for `count_chunk`, or None (and this
    process set up) for counting here."""
    if processes <= 1:
        setup(params, terms, authors)
        return None
    return multiprocessing.get_context("spawn").Pool(
        processes, initializer=setup, initargs=(params, terms, authors)
    )


def count_all(docs: Iterator, params, terms: list[str], authors: Authors, spill, processes=1):
    """Count `terms` and authors per chunk of `params.chunk` docs into `spill` (in order, on
    `processes` workers if more than one); (document frequencies, total counts, meta: ids,
    times, categories, author blocks). The author vocabulary's display names are settled."""
    df = np.zeros(len(terms), dtype=np.int64)
    totals = np.zeros(len(terms), dtype=np.float64)
    meta: dict[str, list] = {"ids": [], "published": [], "updated": [], "categories": []}
    author_parts: list[sp.csr_matrix] = []
    spelled: dict[int, str] = {}
    pending: deque = deque()
    workers = pool(processes, params, terms, authors)

    def take(result) -> None:
        m, block, spellings = result
        df[:] += np.bincount(m.indices, minlength=len(terms))
        totals[:] += np.bincount(m.indices, weights=m.data, minlength=len(terms))
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
    return df, totals, meta
