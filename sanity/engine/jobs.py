"""Feature jobs over the database: full builds, fresh updates, and running them in a child.

The runners (scheduler jobs, CLI commands) call these after an ingest stage changed papers."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

from flask import Flask, current_app
from sqlalchemy import BigInteger, cast, extract, func, select

from config import Config
from sanity.db import chunked, db, is_sqlite
from sanity.engine import feature_build, features, search, store
from sanity.engine.features import Doc, Features, Params
from sanity.leases import FEATURES_LOCK, Lease
from sanity.models import Paper
from sanity.timeutil import as_utc, get_clock

log = logging.getLogger(__name__)


def _columns() -> tuple:
    """A doc's columns, its times as whole seconds since 1970 computed by the database (a
    Python datetime per value cost 7 microseconds, and a build reads two a paper, twice)."""
    times = [extract("epoch", c) for c in (Paper.published, Paper.updated)]
    if not is_sqlite():  # SQLite's is an integer already; PostgreSQL's has a fraction
        times = [cast(func.floor(t), BigInteger) for t in times]
    return (Paper.id, Paper.title, Paper.abstract, Paper.authors, *times, Paper.categories)


def epoch(value) -> int:
    return int(as_utc(value).timestamp())


def _doc(row) -> Doc:
    pid, title, abstract, authors, published, updated, categories = row
    return Doc(
        id=pid,
        text=features.paper_text(title, abstract, authors or []),
        published=int(published),
        updated=int(updated),
        categories=categories or "",
        authors=authors or [],
    )


def iter_docs(ids: list[str] | None = None) -> Iterator[Doc]:
    """Papers as feature docs, streamed in id order (or just `ids`). Rows come through the
    session's connection, not the ORM's result machinery: about twice as fast per row, which a
    build's two passes over a million papers feel."""
    connection = db.session.connection()
    if ids is not None:
        for chunk in chunked(ids):
            query = select(*_columns()).where(Paper.id.in_(chunk)).order_by(Paper.id)
            yield from (_doc(row) for row in connection.execute(query))
        return
    query = select(*_columns()).order_by(Paper.id).execution_options(yield_per=2000)
    yield from (_doc(row) for row in connection.execute(query))


def _held(wait: float = 0.0):
    """Hold the features lock for a build (waiting up to `wait` for a running one), renewed
    from a thread: a build has no checkpoints between which to renew it."""
    return Lease.for_job(FEATURES_LOCK, get_clock()).acquire(wait=wait).kept_alive()


def full_build(progress: Callable[[str, int, int], None] | None = None) -> Features | None:
    """Refit the vocabulary and rebuild every row and the search index (`sanity compute`).

    `progress(stage, done, total)` hears how far each pass over the papers is."""
    cfg = current_app.config
    with _held():
        indexing = _Background(current_app._get_current_object(), search.rebuild_index)
        try:
            total = db.session.scalar(select(func.count()).select_from(Paper)) or 0
            if not total:
                log.info("features: no papers yet, nothing to build")
                return None
            source = _watched(progress, total) if progress else iter_docs
            built = _build_and_save(Params.from_config(cfg), total, source)
        finally:
            indexing.wait()
        _update_locked()  # papers that arrived while the build ran
        return built


def _watched(progress: Callable[[str, int, int], None], total: int):
    """iter_docs for feature_build.build, telling `progress` about each of its two passes."""
    stages = iter(["vocabulary", "counting"])

    def source() -> Iterator[Doc]:
        stage = next(stages, "counting")
        done = 0
        for done, doc in enumerate(iter_docs(), 1):
            if done % 1000 == 0:
                progress(stage, done, total)
            yield doc
        progress(stage, done, max(total, done))

    return source


class _Background(threading.Thread):
    """`work()` in its own thread and app context (its own database session); `wait()` joins
    it and raises what it raised. The search index is rebuilt this way beside the feature
    build: SQLite writes it while the build reads, on the second core."""

    def __init__(self, app: Flask, work) -> None:
        super().__init__(daemon=True)
        self.app, self.work, self.error = app, work, None
        self.start()

    def run(self) -> None:
        with self.app.app_context():
            try:
                self.work()
            except BaseException as exc:  # noqa: BLE001 - re-raised by wait()
                self.error = exc

    def wait(self) -> None:
        self.join()
        if self.error is not None:
            raise self.error


def _build_and_save(params: Params, total: int, source=iter_docs) -> Features:
    """A full build of about `total` papers written straight into a staging folder under
    DATA_DIR, then published: its matrix never has to fit in memory."""
    cfg = current_app.config
    data_dir = cfg["DATA_DIR"]
    staged = store.staging(data_dir)
    try:
        processes = int(cfg["FEATURE_PROCESSES"])
        built = feature_build.build(source, params, staged, total=total, processes=processes)
        store.save(built, data_dir, staged=staged)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return built


UPDATE_WAIT_SECONDS = 600.0  # an update after a crawl waits this long for a running build


def update(progress: Callable[[str, int, int], None] | None = None) -> str:
    """Vectorize papers that are new or changed since the current build; refit when stale
    (telling `progress` about a refit's passes, as `full_build` does).

    If another build or update is running, wait for it: papers it did not see are then done
    here, instead of staying unranked until the next crawl.
    """
    with _held(wait=UPDATE_WAIT_SECONDS):
        return _update_locked(progress)


def _update_locked(progress: Callable[[str, int, int], None] | None = None) -> str:
    """The update itself; the caller holds the features lease."""
    cfg = current_app.config
    base = store.load(cfg["DATA_DIR"])
    total = db.session.scalar(select(func.count()).select_from(Paper)) or 0
    growth = float(cfg["TFIDF_REFIT_GROWTH"])
    stale = base is not None and total > base.fitted_docs * (1 + growth)
    if base is None or stale or base.params != Params.from_config(cfg):
        if not total:
            return "no papers yet"
        source = _watched(progress, total) if progress else iter_docs
        built = _build_and_save(Params.from_config(cfg), total, source)
        terms, names = len(built.vocabulary), len(built.authors)
        return f"refit: {built.n} papers, {terms} terms, {names} authors"
    known = base.index
    changed = [
        pid
        for pid, updated in db.session.execute(select(Paper.id, Paper.updated))
        if pid not in known or epoch(updated) > base.updated[known[pid]]
    ]
    if not changed:
        return "up to date"
    fresh = store.save_with_rows(base, list(iter_docs(changed)), cfg["DATA_DIR"])
    return f"updated {len(changed)} papers ({fresh.n} in all)"


def child_env(app: Flask) -> dict[str, str]:
    """The environment that gives a child process this app's effective configuration: every
    configuration key (`Config.keys()`) as SANITY_<KEY>, the database URL and instance path."""
    env = dict(os.environ)
    for key in Config.keys():
        value = app.config.get(key)
        if value is not None:
            env[f"SANITY_{key}"] = str(value)
    env["SANITY_DATABASE_URL"] = app.config["SQLALCHEMY_DATABASE_URI"]
    env["SANITY_INSTANCE_PATH"] = app.instance_path
    return env


def run_in_child(app: Flask, args: list[str], timeout: float = 3600) -> bool:
    """Run `sanity compute ARGS` in a separate process (never build inside a web process)."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "sanity", "compute", *args],
        env=child_env(app),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        log.error("feature job failed: %s", (result.stderr.strip().splitlines() or ["?"])[-1])
        return False
    log.info("feature job: %s (%.1fs)", result.stdout.strip(), time.monotonic() - started)
    return True


def update_after_ingest(changed: int, here: bool = False, progress=None) -> None:
    """After `changed` papers were added or replaced: make them rankable now, in a child
    process (FEATURES_IN_CHILD) unless `here` (a one-shot command, whose own process is as
    good as a child and already started: at 22,000 papers a child's start-up is a sixth of
    the import). `progress` hears about a refit's passes when built here.

    The update finds what changed by itself (papers newer than the build), so callers only say
    whether anything did; nothing is lost if an update is skipped or fails.
    """
    if not changed:
        return
    app = current_app._get_current_object()
    if app.config["FEATURES_IN_CHILD"] and not here:
        run_in_child(app, ["--update"])
    else:
        try:
            log.info("features: %s", update(progress))
        except Exception:
            log.exception("feature update failed")
