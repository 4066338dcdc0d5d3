"""The embedding job: sentence embeddings of title + abstract for every paper new or changed
since the last run, in chunks written to disk as they are done (a killed run resumes from
them), published as `embedding_store` builds as the run goes. Run by `sanity embed`, `sanity
compute`, imports and the worker after each crawl, in a child process at low priority."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from flask import current_app
from sqlalchemy import select

from sanity.db import chunked, db
from sanity.engine.embedding_store import BuildUnreadable, Embeddings, load, root_dir, save
from sanity.engine.embeddings import paper_text, runtime
from sanity.engine.jobs import child_env
from sanity.leases import Lease
from sanity.models import Paper
from sanity.timeutil import as_utc, get_clock

EMBEDDINGS_LOCK = "embeddings"  # one embedding run at a time
CHUNK = 256  # papers per forward pass batch written to disk: a killed run loses at most this
# A long run publishes what it has once it has PUBLISH_MIN new papers and a quarter of those
# published: a first run over 100k papers shows its first 1,000 within minutes and writes
# about 5.5-6 times the final build in all (a fixed step would write it ~n/step/2 times).
PUBLISH_MIN = 1000
CHILD_HOURS = 24  # a worker's run is stopped after this (a first run over 1M papers is longer)

log = logging.getLogger(__name__)


def pending_dir(data_dir: str | os.PathLike, model: str) -> Path:
    return root_dir(data_dir) / "pending" / model


def _pending(folder: Path) -> list[tuple[Path, dict]]:
    """Chunks embedded but not yet published (left by this run or a killed one); a damaged
    one is deleted (its papers are embedded again)."""
    out = []
    for path in sorted(folder.glob("[!.]*.npz")) if folder.exists() else []:
        try:
            with np.load(path) as data:
                out.append((path, {k: data[k] for k in ("ids", "updated", "vectors")}))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            log.error("embeddings: deleting the unreadable chunk %s (%s)", path.name, exc)
            path.unlink(missing_ok=True)
    return out


def _write_chunk(folder: Path, ids: list[str], updated: list[int], vectors: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns():020d}-{os.getpid()}"
    tmp = folder / f".{name}.tmp.npz"
    try:
        np.savez(tmp, ids=np.array(ids), updated=np.array(updated, dtype=np.int64),
                 vectors=vectors.astype(np.float16))  # fmt: skip
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, folder / f"{name}.npz")
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk: nothing half-written is left
        raise


def _publish(data_dir: str, model: str, base: Embeddings | None) -> Embeddings | None:
    """Merge the pending chunks into a new build (changed rows replaced in place, new ones
    appended), publish it, then drop the chunks."""
    folder = pending_dir(data_dir, model)
    chunks = _pending(folder)
    if not chunks:
        return base
    ids = list(base.ids) if base else []
    index = dict(base.index) if base else {}
    dim = chunks[0][1]["vectors"].shape[1]
    updates: dict[str, tuple[int, np.ndarray]] = {}
    for _, data in chunks:
        for pid, when, vec in zip(data["ids"], data["updated"], data["vectors"], strict=True):
            updates[str(pid)] = (int(when), vec)
    for pid in updates:
        if pid not in index:
            index[pid] = len(ids)
            ids.append(pid)
    vectors = np.zeros((len(ids), dim), dtype=np.float16)
    updated = np.zeros(len(ids), dtype=np.int64)
    if base is not None:
        vectors[: base.n], updated[: base.n] = base.vectors, base.updated
    for pid, (when, vec) in updates.items():
        vectors[index[pid]], updated[index[pid]] = vec, when
    build_id = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{time.time_ns() % 10**9:09d}"
    built = Embeddings(build_id, model, ids, updated, vectors)
    save(built, data_dir)
    for path, _ in chunks:
        path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # not empty: a chunk written meanwhile
        folder.rmdir()
    return load(data_dir, build_id)


def _tidy(data_dir: str, model: str) -> None:
    """Chunks a killed run left behind (called holding the lease, so no run is writing): its
    half-written one, and those of another model's run. (A half-written build is removed
    with the old builds, by `builds.prune`.)"""
    pending = root_dir(data_dir) / "pending"
    for folder in pending.glob("*"):
        if folder.name != model and folder.is_dir():
            log.info("embeddings: dropping an interrupted run's chunks of another model")
            shutil.rmtree(folder, ignore_errors=True)
    for tmp in (pending / model).glob(".*.tmp.npz"):
        log.info("embeddings: removing %s, left by a run that was stopped", tmp.name)
        tmp.unlink(missing_ok=True)


def epoch(value) -> int:
    return int(as_utc(value).timestamp())


def todo(base: Embeddings | None, done: set[str]) -> list[str]:
    """Papers with no embedding, or whose newer version came after theirs, in id order."""
    out = []
    for pid, updated in db.session.execute(select(Paper.id, Paper.updated).order_by(Paper.id)):
        if pid in done:
            continue
        row = base.index.get(pid) if base is not None else None
        if row is None or epoch(updated) > int(base.updated[row]):
            out.append(pid)
    return out


@dataclass
class EmbedStats:
    embedded: int = 0
    total: int = 0
    resumed: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.embedded / max(self.seconds, 1e-9)

    def summary(self) -> str:
        extra = f", {self.resumed:,} resumed from an interrupted run" if self.resumed else ""
        done = f"embedded {self.embedded:,} papers in {self.seconds:.1f}s"
        return f"{done} ({self.rate:.1f} papers/s){extra}; {self.total:,} papers have embeddings"


def embed_missing(
    report: Callable[[EmbedStats], None] | None = None, limit: int | None = None
) -> EmbedStats:
    """Embed every paper that is new or changed since the last run, in chunks of CHUNK papers
    written to disk as they are done (a killed run resumes from them), publishing a new build
    as it goes (PUBLISH_MIN) and at the end. SemanticOff when the layer is off."""
    model = runtime()
    data_dir = current_app.config["DATA_DIR"]
    started = time.monotonic()
    lease = Lease.for_job(EMBEDDINGS_LOCK, get_clock()).acquire()
    try:
        try:
            base = load(data_dir)
        except (FileNotFoundError, BuildUnreadable) as exc:  # other errors: the next run
            log.error("embeddings: the current build cannot be read (%s): embedding again", exc)
            base = None
        if base is not None and base.model != model.fingerprint:
            log.info("embeddings: the model changed, embedding every paper again")
            base = None
        _tidy(data_dir, model.fingerprint)
        folder = pending_dir(data_dir, model.fingerprint)
        resumed = {str(pid) for _, data in _pending(folder) for pid in data["ids"]}
        wanted = todo(base, resumed)[:limit]
        stats = EmbedStats(resumed=len(resumed))
        since_publish = len(resumed)
        for ids in chunked(wanted, CHUNK):
            rows = db.session.execute(
                select(Paper.id, Paper.title, Paper.abstract, Paper.updated)
                .where(Paper.id.in_(ids)).order_by(Paper.id)
            ).all()  # fmt: skip
            vectors = model.encode([paper_text(r.title, r.abstract) for r in rows])
            _write_chunk(folder, [r.id for r in rows], [epoch(r.updated) for r in rows], vectors)
            db.session.rollback()  # no transaction left open between chunks
            lease.keep()
            stats.embedded += len(rows)
            since_publish += len(rows)
            stats.seconds = time.monotonic() - started
            if since_publish >= max(PUBLISH_MIN, (base.n if base is not None else 0) // 4):
                base, since_publish = _publish(data_dir, model.fingerprint, base), 0
            if report:
                report(stats)
        base = _publish(data_dir, model.fingerprint, base)
    finally:
        lease.release()
    stats.total = base.n if base is not None else 0
    stats.seconds = time.monotonic() - started
    return stats


def embed_in_child(app) -> bool:
    """Run `sanity embed` in a separate, niced process (never in a web process); in-process
    where FEATURES_IN_CHILD is off (tests)."""
    if not app.config["FEATURES_IN_CHILD"]:
        log.info("embeddings: %s", embed_missing().summary())
        return True
    try:
        result = subprocess.run(
            [sys.executable, "-m", "sanity", "embed"],
            env=child_env(app),
            capture_output=True,
            text=True,
            timeout=CHILD_HOURS * 3600,
        )
    except subprocess.TimeoutExpired:
        log.warning("embeddings: stopped after %d hours; the next run goes on from there "
                    "(its chunks are kept)", CHILD_HOURS)  # fmt: skip
        return False
    if result.returncode != 0:
        log.error("embeddings failed: %s", (result.stderr.strip().splitlines() or ["?"])[-1])
        return False
    log.info("embeddings: %s", result.stdout.strip())
    return True
