"""The build's counting pass: term counts per chunk of documents, spilled to disk, optionally
in worker processes (the tokenizer is pure Python: a second core halves the pass).

Workers are spawned, not forked, so that they do not share (and count again) the memory of
the process that builds; each task carries its terms, so a worker needs no set-up.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp

from sanity.engine import analyzer
from sanity.engine.authors import Authors

_cached: dict = {}  # in a worker: the last (params, terms), their analyzer and vocabulary


def count(params, terms: list[str], texts: list[str]) -> sp.csr_matrix:
    """Counts of `terms` in `texts` (float32 CSR), with `params`' analyzer."""
    if not terms:
        return sp.csr_matrix((len(texts), 0), dtype=np.float32)
    key = (params, tuple(terms))
    if _cached.get("key") != key:
        vocabulary = {t: i for i, t in enumerate(terms)}
        _cached.update(key=key, analyze=params.analyzer(), vocabulary=vocabulary)
    return analyzer.count(_cached["analyze"], _cached["vocabulary"], texts)


def pool(processes: int):
    """A pool of `processes` spawned workers, or None for counting in this process."""
    if processes <= 1:
        return None
    return multiprocessing.get_context("spawn").Pool(processes)


def count_all(docs: Iterator, params, terms: list[str], authors: Authors, spill, workers=None):
    """Count `terms` per chunk of `params.chunk` docs into `spill` (in order, on `workers` if
    given); (document frequencies, total counts, meta: ids, times, categories, author blocks)."""
    df = np.zeros(len(terms), dtype=np.int64)
    totals = np.zeros(len(terms), dtype=np.float64)
    meta: dict[str, list] = {"ids": [], "published": [], "updated": [], "categories": []}
    author_parts: list[sp.csr_matrix] = []
    pending: deque = deque()

    def take(m: sp.csr_matrix) -> None:
        df[:] += np.bincount(m.indices, minlength=len(terms))
        totals[:] += np.bincount(m.indices, weights=m.data, minlength=len(terms))
        spill.append(m)

    def flush(batch: list[str], names: list) -> None:
        if workers is None:
            take(count(params, terms, batch))
        else:
            pending.append(workers.apply_async(count, (params, terms, batch)))
            while len(pending) > 2 * workers._processes:
                take(pending.popleft().get())
        if len(authors):
            author_parts.append(authors.block(names))

    batch: list[str] = []
    batch_authors: list = []
    for doc in docs:
        batch.append(doc.text)
        if len(authors):
            batch_authors.append(doc.authors)
            authors.note_spellings(doc.authors)
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
    spill.finish()
    authors.settle_names()
    meta["authors"] = author_parts
    return df, totals, meta
