"""A whole TF-IDF build, memory-bounded: the vocabulary chosen by streaming document
frequencies (from an even sample on a large corpus), then counts weighed chunk by chunk on disk,
on worker processes from PARALLEL_FROM docs on. `sanity.engine.features` holds what it makes."""

from __future__ import annotations

import gc
import logging
import math
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from sanity import memory
from sanity.engine import counting, ondisk
from sanity.engine.authors import Authors, NameCounter, combine
from sanity.engine.features import Features, Params, new_build_id, weigh

log = logging.getLogger(__name__)


def build(
    doc_source, params: Params, out: Path | None = None, total: int = 0, processes: int = 1
) -> Features:
    """Choose the vocabulary by streaming document frequencies, then count and weigh in chunks.

    `doc_source()` returns a fresh iterator over all docs (it is walked twice). Memory stays
    bounded: the n-gram counter is pruned of its rarest entries whenever it outgrows
    `params.max_ngrams` (lossy counting), texts are handled one chunk at a time, and counts
    and the weighted matrix go to disk chunk by chunk (`sanity.engine.ondisk`). With `out`, the
    matrix and its transpose are left there as `.npy` files (`sanity.engine.store` publishes
    that folder) and the build maps them; without, they are read into memory.

    `total` (the expected number of docs) lets a large corpus choose its candidate terms from
    an even sample of VOCABULARY_SAMPLE docs (every count that decides is then exact), and
    both passes run on `processes` worker processes.
    """
    started = time.monotonic()
    processes = processes if total >= PARALLEL_FROM else 1
    collecting = gc.isenabled()
    gc.disable()  # millions of short-lived lists and sets, no cycles: collections only cost
    try:
        return _build(doc_source, params, out, total, processes, started)
    finally:
        if collecting:
            gc.enable()


VOCABULARY_SAMPLE = 100_000  # docs whose n-grams choose the candidate terms
PARALLEL_FROM = 50_000  # docs from which counting on worker processes pays for their start-up


def _build(doc_source, params: Params, out, total: int, processes: int, started) -> Features:
    workers = counting.Workers(processes, params.analyzer())
    try:
        return _build_with(doc_source, params, out, total, workers, started)
    finally:
        workers.close()


def _build_with(doc_source, params: Params, out, total: int, workers, started) -> Features:
    names = NameCounter(5 * params.author_max_features) if params.author_weight > 0 else None
    stride = max(1, math.ceil(total / VOCABULARY_SAMPLE))
    n, hashes, doc_freq = counting.document_frequencies(
        doc_source(), params, names, workers, stride
    )
    memory.trim()
    authors = Authors()
    if names is not None:
        authors, _ = names.vocabulary(
            params.author_min_df, params.author_max_features, params.author_weight
        )
    del names
    lo, hi = params.df_bounds(n)
    estimated = doc_freq * (n / max(1, len(range(0, n, stride))))  # sampled -> all docs
    eligible = np.flatnonzero((lo <= estimated) & (estimated <= hi))
    if not len(eligible):
        lo, hi = 1, n  # e.g. near-identical texts: every term too common; keep them all
        eligible = np.arange(len(hashes))
    # Candidates by document frequency; the final choice is by total term frequency (as
    # scikit-learn's max_features does), counted exactly in the second pass.
    wanted = int(params.max_features * 1.5)
    by_df = np.lexsort((hashes[eligible], doc_freq[eligible]))[::-1][:wanted]
    candidates = np.sort(hashes[eligible[by_df]])
    del hashes, doc_freq, estimated, eligible
    with tempfile.TemporaryDirectory(dir=out, prefix=".scratch-") as scratch:
        where = out if out is not None else Path(scratch)
        spill = ondisk.RowSpill(Path(scratch), "counts")
        try:
            df, totals, terms, meta = counting.count_all(
                doc_source(), params, candidates, authors, spill, workers
            )
            memory.trim()
            keep = _chosen(terms, df, totals, lo, hi, params.max_features)
            vocabulary = [terms[i] for i in keep]
            idf = (np.log((1 + n) / (1 + df[keep])) + 1).astype(np.float32)
            blocks = meta.pop("authors")
            shape = _write_matrix(where, spill, keep, df[keep], idf, params, blocks, authors)
        finally:
            spill.remove()
        if out is None:
            X, columns = _read_matrix(where, shape), None
        else:
            X, columns = (
                _read_matrix(where, shape, "X", "r"),
                _read_matrix(where, shape[::-1], "XT", "r"),
            )
    features = Features(
        build_id=new_build_id(),
        vocab_id=uuid.uuid4().hex[:12],
        X=X,
        columns=columns,
        vocabulary=vocabulary,
        idf=idf,
        ids=meta["ids"],
        published=np.asarray(meta["published"], dtype=np.int64),
        updated=np.asarray(meta["updated"], dtype=np.int64),
        categories=meta["categories"],
        params=params,
        fitted_docs=n,
        authors=authors,
    )
    log.info(
        "features: built %d docs x %d terms + %d authors (%d nnz) in %.1fs",
        n, len(vocabulary), len(authors), X.nnz, time.monotonic() - started,
    )  # fmt: skip
    return features


def _chosen(terms: list, df, totals, lo: int, hi: int, limit: int) -> np.ndarray:
    """The candidates kept as columns, in the vocabulary's (alphabetical) order: within the
    document-frequency limits, the `limit` most frequent by total count (ties: the first)."""
    named = [i for i, t in enumerate(terms) if t is not None]
    named = np.array(sorted(named, key=terms.__getitem__), dtype=np.int64)
    keep = named[(df[named] >= lo) & (df[named] <= hi)]
    if len(keep) > limit:
        keep = keep[np.sort(np.argsort(-totals[keep], kind="stable")[:limit])]
    return keep.astype(np.int64)


def _write_matrix(where: Path, spill, keep, df, idf, params: Params, author_parts, authors):
    """Weigh the spilled counts chunk by chunk into `where`/X.*.npy (and XT.*.npy), `df` being
    the kept columns' document frequencies; the shape."""
    rows = sum(r for r, _ in spill.chunks)
    width = len(df) + len(authors)
    # Entries per column, known before weighing: every counted term and author stays non-zero.
    column_nnz = np.zeros(width, dtype=np.int64)
    column_nnz[: len(df)] = df
    for block in author_parts:
        column_nnz[len(df) :] += np.bincount(block.indices, minlength=len(authors))
    writer = ondisk.CsrWriter(where, "X", rows, int(column_nnz.sum()))
    for i, counts in enumerate(spill):
        block = author_parts[i] if author_parts else None
        words = counts[:, keep]  # candidates' columns in the vocabulary's order
        words.sort_indices()
        chunk = combine(weigh(words, idf, params.sublinear_tf), block, authors.weight)
        writer.append(sp.csr_matrix(chunk, shape=(counts.shape[0], width)))
    writer.close()
    memory.trim()
    ondisk.write_transpose(where, rows, width, column_nnz)
    return rows, width


def _read_matrix(where: Path, shape: tuple, name: str = "X", mmap=None) -> sp.csr_matrix:
    parts = (
        np.load(where / f"{name}.{p}.npy", mmap_mode=mmap) for p in ("data", "indices", "indptr")
    )
    return sp.csr_matrix(tuple(parts), shape=shape, copy=False)
