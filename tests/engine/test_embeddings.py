"""`sanity embed` and the embedding store: incremental, resumable, atomic, float16 on disk."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from sanity.db import db
from sanity.engine import embedding_job, embedding_store, embeddings, hybrid
from sanity.models import Paper
from tests.factories import topical_papers
from tests.semantic_model import write_model


@pytest.fixture
def semantic_app(app, tmp_path):
    app.config["SEMANTIC_MODEL"] = str(write_model(tmp_path / "model"))
    embeddings._models.clear()
    return app


def test_off_by_default(app):
    """Without SEMANTIC_MODEL the layer is off: no embeddings, a clear refusal to embed."""
    assert not embeddings.enabled() and embeddings.current() is None
    with pytest.raises(embeddings.SemanticOff, match="SEMANTIC_MODEL"):
        embedding_job.embed_missing()


def test_embeds_every_paper_once_then_only_changed_ones(semantic_app):
    """A first run embeds every paper; the next embeds nothing; a paper's newer version is
    embedded again and keeps its row."""
    ids = [pid for group in topical_papers(3).values() for pid in group]
    first = embedding_job.embed_missing()
    assert first.embedded == len(ids) == first.total
    built = embedding_store.load(semantic_app.config["DATA_DIR"])
    assert sorted(built.ids) == sorted(ids)
    assert built.vectors.dtype == np.float16 and isinstance(built.vectors, np.memmap)
    assert np.allclose(np.linalg.norm(built.vectors.astype(np.float32), axis=1), 1, atol=1e-2)
    assert built.scoring.dtype == np.float32 and isinstance(built.scoring, np.memmap)
    assert np.array_equal(built.scoring, built.vectors.astype(np.float32))
    assert embedding_job.embed_missing().embedded == 0
    paper = db.session.get(Paper, ids[0])
    paper.abstract = "Cats and dogs."
    paper.updated = paper.updated + timedelta(days=1)
    db.session.commit()
    again = embedding_job.embed_missing()
    assert again.embedded == 1 and again.total == len(ids)
    after = embedding_store.load(semantic_app.config["DATA_DIR"])
    row = after.index[ids[0]]
    assert row == built.index[ids[0]]
    assert not np.allclose(after.vectors[row], built.vectors[row])
    other = built.index[ids[1]]
    assert np.array_equal(after.vectors[other], built.vectors[other])


def test_an_interrupted_run_resumes_from_its_chunks(semantic_app, monkeypatch):
    """Killed after its first chunk: nothing is published, and the next run takes that chunk
    as done and embeds only the rest."""
    ids = [pid for group in topical_papers(2).values() for pid in group]
    monkeypatch.setattr(embedding_job, "CHUNK", 2)

    def stop(stats):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        embedding_job.embed_missing(report=stop)
    assert embedding_store.current_build_id(semantic_app.config["DATA_DIR"]) is None
    resumed = embedding_job.embed_missing()
    assert resumed.resumed == 2 and resumed.embedded == len(ids) - 2
    assert resumed.total == len(ids)
    pending = embedding_store.root_dir(semantic_app.config["DATA_DIR"]) / "pending"
    assert not any(pending.iterdir()), "a finished run leaves no chunk and no empty folder"


def test_an_interrupted_run_of_another_model_is_dropped(semantic_app, monkeypatch, tmp_path):
    """Chunks left by a killed run of the previous model are deleted by the next model's run,
    not kept on disk for ever nor mixed in."""
    topical_papers(2)
    monkeypatch.setattr(embedding_job, "CHUNK", 2)

    def stop(stats):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        embedding_job.embed_missing(report=stop)
    pending = embedding_store.root_dir(semantic_app.config["DATA_DIR"]) / "pending"
    assert [p for p in pending.iterdir() if any(p.iterdir())]
    semantic_app.config["SEMANTIC_MODEL"] = str(write_model(tmp_path / "other", seed=9))
    again = embedding_job.embed_missing()
    assert again.resumed == 0 and again.embedded == again.total == 6
    assert not any(pending.iterdir())


def test_another_model_embeds_everything_again(semantic_app, tmp_path):
    """Vectors of another model are never mixed with this one's."""
    topical_papers(2)
    embedding_job.embed_missing()
    semantic_app.config["SEMANTIC_MODEL"] = str(write_model(tmp_path / "other", seed=9))
    again = embedding_job.embed_missing()
    assert again.embedded == again.total == 6


def test_a_long_run_publishes_more_rarely_as_the_build_grows(semantic_app, monkeypatch):
    """A run publishes what it has once it has PUBLISH_MIN new papers and a quarter of the
    published ones: early papers become rankable soon, a large build is rewritten rarely."""
    topical_papers(6)  # 18 papers
    monkeypatch.setattr(embedding_job, "CHUNK", 1)
    monkeypatch.setattr(embedding_job, "PUBLISH_MIN", 2)
    data_dir = semantic_app.config["DATA_DIR"]
    published = []

    def seen(stats):
        found = embedding_store.load(data_dir)
        if found is not None and (not published or published[-1] != found.n):
            published.append(found.n)

    embedding_job.embed_missing(report=seen)
    assert published == [2, 4, 6, 8, 10, 12, 15, 18]


def test_a_build_of_another_model_is_not_used(semantic_app, tmp_path, caplog):
    """After SEMANTIC_MODEL changes, the old model's vectors are never compared with the new
    model's queries: no current embeddings (papers rank by words) until the new model's."""
    topical_papers(2)
    embedding_job.embed_missing()
    assert embeddings.current().n == 6 and embeddings.count() == 6
    assert embeddings.left_out() == 0
    semantic_app.config["SEMANTIC_MODEL"] = str(write_model(tmp_path / "other", seed=9))
    embeddings._models.clear()
    assert embeddings.current() is None and embeddings.count() == 0
    assert embeddings.left_out() == 6
    assert "another model's" in caplog.text
    embedding_job.embed_missing()
    embedding_store.store_for(semantic_app.config["DATA_DIR"])._checked = 0.0
    assert embeddings.current().n == 6 and embeddings.left_out() == 0


DAMAGE = {
    "meta.json": "{not json",
    "meta.json ": "[]",  # JSON, but not the object save writes
    "vectors.npy": b"garbage",
    "vectors.npy ": b"",
    "updated.npy": None,  # deleted
}


@pytest.mark.parametrize("damage", [*DAMAGE, "CURRENT"])
def test_an_unreadable_build_is_left_out_and_embedded_again(semantic_app, damage, caplog):
    """A damaged build (a file garbled, emptied or deleted, or CURRENT naming a build that is
    not there) is logged once and left out: no embeddings to rank with instead of an error;
    the next run embeds every paper again, and the same store then serves the good build."""
    topical_papers(2)
    embedding_job.embed_missing()
    data_dir = semantic_app.config["DATA_DIR"]
    root = embedding_store.root_dir(data_dir)
    build = root / embedding_store.current_build_id(data_dir)
    if damage == "CURRENT":
        (root / embedding_store.CURRENT).write_text("20990101T000000-000000000")
    elif DAMAGE[damage] is None:
        (build / damage.strip()).unlink()
    else:
        content = DAMAGE[damage]
        path = build / damage.strip()
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    store = embedding_store.EmbeddingStore(data_dir)
    assert store.get() is None
    store._checked = 0.0
    assert store.get() is None and caplog.text.count("cannot be read") == 1
    again = embedding_job.embed_missing()
    assert again.embedded == again.total == 6
    assert caplog.text.count("cannot be read") == 2  # the job's "embedding again"
    store._checked = 0.0
    assert store.get().n == 6


def test_a_damaged_newer_build_leaves_the_loaded_one_in_use(semantic_app):
    """A process that has a good build keeps ranking with it when the next one is damaged."""
    topical_papers(2)
    embedding_job.embed_missing()
    data_dir = semantic_app.config["DATA_DIR"]
    store = embedding_store.EmbeddingStore(data_dir)
    good = store.get()
    topical_papers(1, start=semantic_app.extensions["sanity.clock"].now())
    embedding_job.embed_missing()
    newer = embedding_store.root_dir(data_dir) / embedding_store.current_build_id(data_dir)
    assert newer.name != good.build_id
    (newer / "meta.json").write_text("{not json")
    store._checked = 0.0
    assert store.get() is good


def test_a_model_replaced_in_place_is_loaded_again(semantic_app, tmp_path):
    """New files in the same SEMANTIC_MODEL directory: the old model's build is not used and
    the process loads the new model for its queries."""
    topical_papers(2)
    path = semantic_app.config["SEMANTIC_MODEL"]
    first = embeddings.runtime()
    embedding_job.embed_missing()
    assert embeddings.current() is not None
    write_model(tmp_path / "model", seed=9)  # the same directory as the fixture's
    assert embeddings.current() is None
    assert embeddings.runtime() is not first
    assert embeddings.runtime().fingerprint == embeddings.model_fingerprint(path)
    embedding_job.embed_missing()
    embedding_store.store_for(semantic_app.config["DATA_DIR"])._checked = 0.0
    assert embeddings.current().model == embeddings.runtime().fingerprint


def test_a_new_build_is_swapped_in(semantic_app):
    """The per-process store serves the newest published build."""
    topical_papers(2)
    embedding_job.embed_missing()
    store = embedding_store.store_for(semantic_app.config["DATA_DIR"])
    store._checked = 0.0
    first = store.get()
    topical_papers(1, start=first and semantic_app.extensions["sanity.clock"].now())
    embedding_job.embed_missing()
    store._checked = 0.0
    assert store.get().n == first.n + 3


def test_the_embed_and_compute_commands(app, runner, tmp_path, monkeypatch):
    """`sanity embed` refuses with exit 2 while the layer is off; on, it embeds the missing
    papers, and `sanity compute` embeds those that came after."""
    monkeypatch.setattr("os.nice", lambda n: 0)  # the test process keeps its priority
    topical_papers(2)
    off = runner.invoke(args=["embed"])
    assert off.exit_code == 2 and "SEMANTIC_MODEL" in off.output
    app.config["SEMANTIC_MODEL"] = str(write_model(tmp_path / "model"))
    embeddings._models.clear()
    done = runner.invoke(args=["embed"])
    assert done.exit_code == 0 and "embedded 6 papers" in done.output
    topical_papers(1, start=app.extensions["sanity.clock"].now())
    computed = runner.invoke(args=["compute"])
    assert computed.exit_code == 0 and "embedded 3 papers" in computed.output
    broken = tmp_path / "broken"
    broken.mkdir()
    app.config["SEMANTIC_MODEL"] = str(broken)
    bad = runner.invoke(args=["embed"])
    assert bad.exit_code == 2 and "config.json" in bad.output  # a bad setting: exit 2


def test_a_build_without_its_float32_copy_ranks_the_same(semantic_app):
    """Builds saved before the float32 copy existed are scored from float16, with the same
    result: the copy only saves converting every value per request."""
    topical_papers(3)
    embedding_job.embed_missing()
    root = embedding_store.root_dir(semantic_app.config["DATA_DIR"])
    built = embedding_store.load(semantic_app.config["DATA_DIR"])
    v = np.asarray(built.vectors[0], dtype=np.float32)
    with_copy = hybrid.by_meaning(built.for_scoring, v, 5)
    (root / built.build_id / "scoring.npy").unlink()
    old = embedding_store.load(semantic_app.config["DATA_DIR"])
    assert old.scoring is None and old.for_scoring.dtype == np.float16
    without = hybrid.by_meaning(old.for_scoring, v, 5)
    assert list(with_copy.rows) == list(without.rows)
    assert np.allclose(with_copy.scores, without.scores, atol=1e-6)


def test_a_full_disk_or_a_killed_run_leaves_nothing_that_stops_the_next(semantic_app, monkeypatch):
    """A chunk write that fails (disk full) removes its half-written file; a half-written
    chunk left by a killed run, a damaged chunk and a killed run's build more than an hour
    old are removed by the next run, which then embeds every paper."""
    topical_papers(2)
    data_dir = semantic_app.config["DATA_DIR"]
    folder = embedding_job.pending_dir(data_dir, embeddings.runtime().fingerprint)
    real = np.savez

    def full_disk(path, **arrays):
        Path(path).write_bytes(b"PK\x03\x04 partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", full_disk)
    with pytest.raises(OSError, match="No space"):
        embedding_job.embed_missing()
    assert not list(folder.iterdir())
    monkeypatch.setattr(np, "savez", real)
    (folder / ".00000000000000000001-1.tmp.npz").write_bytes(b"PK\x03\x04 killed mid-write")
    (folder / "00000000000000000002-1.npz").write_bytes(b"garbled")
    killed_build = embedding_store.root_dir(data_dir) / ".20260101T000000-1.tmp-1"
    killed_build.mkdir()
    (killed_build / "vectors.npy").write_bytes(b"\x93NUMPY half")
    hours_ago = time.time() - 2 * 3600  # a build being written now is left alone
    os.utime(killed_build, (hours_ago, hours_ago))
    done = embedding_job.embed_missing()
    assert done.embedded == done.total == 6
    assert not folder.exists() and not killed_build.exists()


def test_a_worker_run_stopped_after_its_hours_is_logged_not_a_crash(
    semantic_app, monkeypatch, caplog, tmp_path
):
    """The worker stops an embedding child after CHILD_HOURS: a warning that the next run goes
    on, not an exception out of the crawl job."""
    semantic_app.config["FEATURES_IN_CHILD"] = True
    slow = tmp_path / "slow-python"
    slow.write_text("#!/bin/sh\nexec sleep 30\n")
    slow.chmod(0o755)
    monkeypatch.setattr(embedding_job, "CHILD_HOURS", 0.2 / 3600)
    monkeypatch.setattr(embedding_job.sys, "executable", str(slow))
    monkeypatch.setattr(embedding_job, "child_env", lambda app: {})
    with caplog.at_level("WARNING"):
        assert embedding_job.embed_in_child(semantic_app) is False
    assert "the next run goes on" in caplog.text


def test_old_builds_are_pruned_and_pending_is_kept(semantic_app):
    """Each run keeps the newest two builds (the current one among them); the pending
    folder is never taken for a build."""
    ids = [pid for group in topical_papers(2).values() for pid in group]
    data_dir = semantic_app.config["DATA_DIR"]
    for n in range(4):
        paper = db.session.get(Paper, ids[n])
        paper.updated = paper.updated + timedelta(days=1)
        db.session.commit()
        embedding_job.embed_missing()
    root = embedding_store.root_dir(data_dir)
    builds = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name[0].isdigit())
    assert len(builds) == 2 and embedding_store.current_build_id(data_dir) == builds[-1]
    (root / "pending").mkdir(exist_ok=True)
    paper = db.session.get(Paper, ids[5])
    paper.updated = paper.updated + timedelta(days=1)
    db.session.commit()
    embedding_job.embed_missing()
    assert (root / "pending").is_dir()
