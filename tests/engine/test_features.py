"""Feature builds: any corpus size, atomic artifacts, per-process reload, fresh rows."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer

from sanity.engine import counting, feature_build, features, ondisk, store
from sanity.engine.analyzer import TOKEN_PATTERN, term_hashes
from sanity.engine.authors import unit_rows
from sanity.engine.features import Doc, Params
from sanity.engine.store import FeatureStore


def docs(n: int, offset: int = 0) -> list[Doc]:
    topics = ["graph neural network", "diffusion image model", "robot policy learning"]
    return [
        Doc(
            id=f"2601.{i + offset:05d}",
            text=f"Paper about {topics[i % 3]} with keyword{(i + offset) % 40} methods",
            published=1_700_000_000 + i,
            updated=1_700_000_000 + i,
            categories="cs.LG" if i % 2 else "cs.CV cs.LG",
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("n", [1, 10, 49, 400])
def test_builds_work_from_the_first_paper(n):
    """Tiny corpora build (document-frequency limits adapt) with unit-length rows."""
    corpus = docs(n)
    built = feature_build.build(lambda: iter(corpus), Params())
    assert built.X.shape == (n, len(built.vocabulary)) and built.vocabulary
    norms = np.sqrt(built.X.multiply(built.X).sum(axis=1)).A.ravel()
    assert np.allclose(norms[norms > 0], 1.0, atol=1e-5)
    assert built.X.dtype == np.float32
    assert built.ids == [d.id for d in corpus]


def test_df_bounds_adapt_to_corpus_size():
    """Small corpora relax min_df/max_df; large ones use the configured limits."""
    p = Params(min_df=5, max_df=0.1)
    assert p.df_bounds(10) == (1, 10)
    assert p.df_bounds(1000) == (2, 500)
    assert p.df_bounds(100_000) == (5, 10_000)


def test_ngram_counter_is_bounded_but_keeps_frequent_terms():
    """With a tiny n-gram budget the counter is pruned, yet frequent terms survive."""
    corpus = docs(600)
    built = feature_build.build(lambda: iter(corpus), Params(max_ngrams=60, min_df=1))
    assert {"graph neural", "robot policy", "diffusion image"} <= set(built.vocabulary)
    assert built.n == 600 and all(built.X[i].nnz > 0 for i in range(600))
    assert built.n == 600 and built.fitted_docs == 600
    assert all(built.X[i].nnz > 0 for i in range(0, 600, 37))


def test_document_frequencies_of_hashes_are_exact_until_the_counter_is_pruned():
    """The first pass's counts equal CountVectorizer's document frequencies, hash by hash;
    past the bound it keeps at most that many n-grams, never over-counts, and keeps the most
    frequent ones."""
    texts = [d.text for d in docs(300)] + ["graph graph neural graph", "", "the of and"]
    reference = CountVectorizer(
        token_pattern=TOKEN_PATTERN,
        stop_words="english",
        ngram_range=(1, 2),
        strip_accents="unicode",
        binary=True,
    )
    df = np.asarray(reference.fit_transform(texts).sum(axis=0)).ravel()
    terms = list(reference.get_feature_names_out())
    want = dict(zip(term_hashes(terms).tolist(), df.tolist(), strict=True))
    counting.start(Params().analyzer())
    try:
        for limit, chunk in ((1_000_000, 50), (20, 7)):
            counter = counting.FrequencyCounter(limit)
            for i in range(0, len(texts), chunk):
                counter.add(counting.frequencies(texts[i : i + chunk]))
            hashes, counts = counter.result()
            got = dict(zip(hashes.tolist(), counts.tolist(), strict=True))
            if limit > len(want):
                assert got == want
            else:
                assert 0 < len(got) <= limit
                assert all(c <= want[h] for h, c in got.items())
                paper, methods = term_hashes(["paper", "methods"]).tolist()
                assert {paper, methods} <= set(got)  # in every text
    finally:
        counting._state.clear()


def test_save_load_roundtrip_and_current_pointer(tmp_path):
    """A saved build loads back identical and CURRENT names it."""
    built = feature_build.build(lambda: iter(docs(30)), Params())
    store.save(built, tmp_path)
    assert store.current_build_id(tmp_path) == built.build_id
    loaded = store.load(tmp_path)
    assert (loaded.X != built.X).nnz == 0
    assert loaded.vocabulary == built.vocabulary and loaded.ids == built.ids
    assert np.array_equal(loaded.published, built.published)
    assert loaded.params == built.params
    # the matrix is mapped from the file, read-only: worker processes share one copy
    chain, array = [], loaded.X.data
    while array is not None:
        chain.append(type(array).__name__)
        array = getattr(array, "base", None)
    assert "mmap" in chain and not loaded.X.data.flags.writeable
    assert (loaded.columns != built.X.T).nnz == 0  # the term -> papers index, saved with it


def test_failed_write_keeps_the_old_build(tmp_path, monkeypatch):
    """If writing a build fails midway, CURRENT still names the old, intact build."""
    old = feature_build.build(lambda: iter(docs(20)), Params())
    store.save(old, tmp_path)
    new = feature_build.build(lambda: iter(docs(40)), Params())

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(features.np, "save", disk_full)
    with pytest.raises(OSError):
        store.save(new, tmp_path)
    assert store.current_build_id(tmp_path) == old.build_id
    assert store.load(tmp_path).n == 20
    leftovers = [p for p in store.features_dir(tmp_path).iterdir() if ".tmp" in p.name]
    assert leftovers == []


def test_store_swaps_in_a_newer_build(tmp_path, monkeypatch):
    """A process's cached features are replaced when another process saves a newer build."""
    monkeypatch.setattr(FeatureStore, "CHECK_SECONDS", 0.0)
    cache = FeatureStore(str(tmp_path))
    assert cache.get() is None
    first = feature_build.build(lambda: iter(docs(10)), Params())
    store.save(first, tmp_path)
    assert cache.get().build_id == first.build_id
    second = features.with_rows(cache.get(), docs(3, offset=100))
    store.save(second, tmp_path)
    assert cache.get().build_id == second.build_id and cache.get().n == 13


def test_with_rows_replaces_and_appends():
    """New docs are appended; a doc with a known id replaces its row (no duplicates)."""
    base = feature_build.build(lambda: iter(docs(12)), Params())
    changed = docs(1)[0]
    changed.text = "entirely different robot policy learning"
    changed.updated += 100
    grown = features.with_rows(base, [changed] + docs(2, offset=500))
    assert grown.n == 14 and len(set(grown.ids)) == 14
    row = grown.index[changed.id]
    assert grown.updated[row] == changed.updated
    assert grown.vocab_id == base.vocab_id and grown.build_id != base.build_id
    assert (grown.X[row] != base.vectorize([changed.text])).nnz == 0


def test_rows_added_on_disk_match_rows_added_in_memory(tmp_path, monkeypatch):
    """store.save_with_rows (the update path: files copied chunk by chunk, never the whole
    matrix in memory) publishes the same build as with_rows, transpose included (written in
    many column blocks here)."""
    monkeypatch.setattr(ondisk, "TRANSPOSE_BLOCK", 100)
    base = feature_build.build(lambda: iter(docs(300)), Params(author_weight=0.6, author_min_df=1))
    base.category_mask("cs.CV")  # a cached mask must not carry over to the new build
    store.save(base, tmp_path)
    changed = docs(1, offset=7)[0]
    changed.text, changed.updated = "entirely different robot policy learning", 2_000_000_000
    fresh = [changed] + docs(3, offset=5000)
    expected = features.with_rows(base, fresh)
    saved = store.save_with_rows(store.load(tmp_path), fresh, tmp_path)
    loaded = store.load(tmp_path)
    assert loaded.build_id == saved.build_id == store.current_build_id(tmp_path)
    for got in (saved, loaded):
        assert got.ids == expected.ids and got.categories == expected.categories
        assert np.array_equal(got.updated, expected.updated)
        assert (got.X != expected.X).nnz == 0 and (got.columns != expected.X.T.tocsr()).nnz == 0
        assert got.category_mask("cs.CV").sum() == expected.category_mask("cs.CV").sum()


def test_old_builds_are_pruned(tmp_path):
    """Only the newest builds are kept on disk."""
    base = feature_build.build(lambda: iter(docs(5)), Params())
    for i in range(4):
        store.save(features.with_rows(base, docs(1, offset=900 + i)), tmp_path)
    builds = [p for p in store.features_dir(tmp_path).iterdir() if p.is_dir()]
    assert len(builds) == 2
    assert os.path.isdir(store.features_dir(tmp_path) / store.current_build_id(tmp_path))


def test_near_identical_texts_still_build():
    """When every term is in every paper (above max_df), the limits relax instead of failing."""
    same = [
        Doc(f"2601.{i:05d}", "Synthetic paper about attention", 0, 0, "cs.LG") for i in range(400)
    ]
    built = feature_build.build(lambda: iter(same), Params())
    assert built.vocabulary and built.X.shape == (400, len(built.vocabulary))
    empty = [Doc("2601.00001", "the of and", 0, 0, "")]
    assert feature_build.build(lambda: iter(empty), Params()).X.shape == (1, 0)


def _same(a, b) -> None:
    assert a.vocabulary == b.vocabulary and a.ids == b.ids
    assert np.array_equal(a.idf, b.idf)
    assert (a.X != b.X).nnz == 0 and a.X.shape == b.X.shape


def test_a_build_counted_in_worker_processes_is_the_same(tmp_path):
    """Counting on two spawned workers, chunk by chunk, gives the build counted in-process;
    a build written into a folder maps the same matrix and its transpose from there."""
    corpus = docs(900)
    params = Params(chunk=100, author_weight=0.6, author_min_df=1)
    for i, d in enumerate(corpus):  # spellings differ; the first one read names the column
        d.authors = [f"Author {int(d.id[-3:]) % 7}"]
        if i >= 450:  # first seen in the fifth chunk, spelled three ways
            d.authors.append("LATE AUTHOR" if i == 450 else "late author" if i % 2 else "Late A")
    alone = feature_build.build(lambda: iter(corpus), params, total=feature_build.PARALLEL_FROM)
    parallel = feature_build.build(
        lambda: iter(corpus), params, tmp_path, total=feature_build.PARALLEL_FROM, processes=2
    )
    _same(alone, parallel)
    assert parallel.authors.keys == alone.authors.keys
    assert parallel.authors.names == alone.authors.names
    assert "LATE AUTHOR" in alone.authors.names and "Author 5" in alone.authors.names
    assert not parallel.X.data.flags.owndata and not parallel.X.data.flags.writeable  # mapped
    assert (parallel.columns != alone.X.T.tocsr()).nnz == 0
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no scratch


HEAVY = ("flask", "sklearn", "sqlalchemy", "alembic")


def test_build_workers_start_without_the_web_stack(tmp_path):
    """A spawned worker imports the counting module alone: not the parent's `__main__` (under
    the `sanity` command, the whole command line) and not Flask or scikit-learn through the
    package. Run as a script whose `__main__` imports Flask, as the console script does."""
    script = tmp_path / "main.py"
    script.write_text(
        "import flask, sys\n"
        "from sanity.engine import analyzer, counting\n"
        "if __name__ == '__main__':\n"
        "    workers = counting.Workers(2, analyzer.Analyzer(['the'], 2))\n"
        "    found = []\n"
        "    probe = \"sorted({m.split('.')[0] for m in __import__('sys').modules})\"\n"
        "    workers.submit(eval, (probe,), found.append)\n"
        "    workers.drain(); workers.close()\n"
        "    print(' '.join(found[0]))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANITY_")}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         env=env, timeout=120, check=True).stdout.split()  # fmt: skip
    assert "numpy" in out and "sanity" in out  # the probe ran in a worker that counts
    assert [m for m in HEAVY if m in out] == []


def test_unit_rows_scales_rows_to_length_one():
    X = sp.csr_matrix(np.array([[3, 4, 0], [0, 0, 0], [0, 2, 0]], dtype=np.float32))
    out = unit_rows(X)
    assert out.dtype == np.float32
    assert np.allclose(out.toarray(), [[0.6, 0.8, 0], [0, 0, 0], [0, 1, 0]])


def test_a_large_corpus_chooses_terms_from_a_sample(monkeypatch):
    """Past VOCABULARY_SAMPLE docs, candidate terms come from every k-th doc; document
    frequencies, idf and every row are still counted over all docs."""
    corpus = docs(900)
    full = feature_build.build(lambda: iter(corpus), Params(min_df=1))
    monkeypatch.setattr(feature_build, "VOCABULARY_SAMPLE", 300)
    sampled = feature_build.build(lambda: iter(corpus), Params(min_df=1), total=900)
    assert sampled.n == 900 and sampled.fitted_docs == 900
    shared = set(full.vocabulary) & set(sampled.vocabulary)
    assert {"keyword0", "keyword3"} <= shared  # in docs 0 and 3: sampled
    for position, chosen in ((0, True), (1, False)):  # doc 0 is in the sample, doc 1 not
        odd = list(corpus)
        odd[position] = Doc(odd[position].id, "zebra crossing", 1, 1, "cs.LG")
        built = feature_build.build(lambda odd=odd: iter(odd), Params(min_df=1), total=900)
        assert ("zebra" in built.vocabulary) is chosen
    by_term = dict(zip(full.vocabulary, full.idf, strict=True))
    assert all(
        by_term[t] == i for t, i in zip(sampled.vocabulary, sampled.idf, strict=True) if t in shared
    )
    row = sampled.X[sampled.index["2601.00001"]]
    assert row.nnz > 0  # a doc outside the sample is still represented by the chosen terms
    monkeypatch.setattr(feature_build, "PARALLEL_FROM", 900)  # counting on two workers
    params = Params(min_df=1, chunk=40)  # small chunks: many tasks
    _same(feature_build.build(lambda: iter(corpus), params, total=900),
          feature_build.build(lambda: iter(corpus), params, total=900, processes=2))  # fmt: skip
