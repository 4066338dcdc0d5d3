"""Faults in production: killed processes, a full disk, a database that goes away.

Each test runs the real `sanity` command in a subprocess and checks that nothing is lost, the
old feature build keeps serving, and the next run (or request) succeeds by itself.
"""

from __future__ import annotations

import os
import resource
import signal
import time
from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy import func, select

from sanity.db import db
from sanity.engine import store
from sanity.models import JobLock, Paper
from tests import processes
from tests.conftest import postgres_url, reset_postgres
from tests.factories import BASE_TIME, fake_papers, random_corpus
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow


def compute(app, **limits) -> processes.subprocess.CompletedProcess:
    return processes.run(["compute"], processes.sanity_env(app, **limits), timeout=300)


def feature_files(app) -> dict[str, float]:
    root = store.features_dir(app.config["DATA_DIR"])
    return {p.name: p.stat().st_mtime for p in root.rglob("*")}


@pytest.mark.both_databases
def test_killed_feature_build_keeps_the_old_build_and_the_next_run_completes(app, client):
    """SIGKILL `sanity compute` mid-build: CURRENT still names the old, complete build."""
    random_corpus(300)
    assert compute(app).returncode == 0
    old = store.current_build_id(app.config["DATA_DIR"])
    random_corpus(12000, seed=4, first=300)
    child = processes.start(["compute"], processes.sanity_env(app))

    def building() -> bool:  # the child holds the features lock (so it is past os.nice too)
        db.session.rollback()
        holder = db.session.get(JobLock, "features")
        return holder is not None and f":{child.pid}:" in holder.owner

    processes.wait_for(building, timeout=60, interval=0.05)
    time.sleep(1)  # well into the build
    assert child.poll() is None, "the build finished before it could be killed: make it bigger"
    assert os.getpriority(os.PRIO_PROCESS, child.pid) >= 10  # builds yield to page views
    processes.stop(child, signal.SIGKILL)

    assert store.current_build_id(app.config["DATA_DIR"]) == old
    loaded = store.load(app.config["DATA_DIR"])
    assert loaded.build_id == old and loaded.n == 300
    response = client.get("/api/papers/2605.00001/similar")
    assert response.status_code == 200 and response.get_json()["papers"]

    rerun = compute(app)  # the dead build's lock does not hold it up
    assert rerun.returncode == 0, rerun.stderr
    fresh = store.load(app.config["DATA_DIR"])
    assert fresh.build_id != old and fresh.n == 12300


def test_disk_full_while_writing_features_leaves_the_old_build(app, client):
    """RLIMIT_FSIZE makes writes fail with EFBIG: a clear error, exit 1, the old build intact."""
    random_corpus(200)
    assert compute(app).returncode == 0
    old = store.current_build_id(app.config["DATA_DIR"])
    before = feature_files(app)
    random_corpus(3000, seed=5, first=200)

    def small_files() -> None:  # in the child: files may not grow past 256 KiB
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write fails instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))

    result = processes.subprocess.run(  # the update refits: 3,000 new papers on 200
        [processes.SANITY, "compute", "--update"],
        env=processes.sanity_env(app),
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=small_files,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "could not write features" in result.stderr
    assert "File too large" in result.stderr or "disk full" in result.stderr, result.stderr
    assert store.current_build_id(app.config["DATA_DIR"]) == old
    assert feature_files(app) == before  # nothing half-written left behind, nothing touched
    assert client.get("/api/papers/2605.00001/similar").status_code == 200
    assert compute(app).returncode == 0  # with room again, the build completes


@pytest.mark.both_databases
def test_killed_worker_mid_crawl_loses_nothing(app, arxiv):
    """SIGKILL `sanity worker` while it crawls; a new worker finishes the job without a gap."""
    app.config["CRAWL_PAGE_SIZE"] = 10
    arxiv.add(*fake_papers(45))
    arxiv.stall_at = 3  # the worker's third request hangs
    env = processes.sanity_env(
        app, SECRET_KEY="w" * 32, CRAWL_ON_START_IF_EMPTY="true", CRAWL_INTERVAL_MINUTES="0.05"
    )
    worker = processes.start(["worker"], env)
    try:
        assert arxiv.stalled.wait(30), "the worker never reached its third request"
    finally:
        processes.stop(worker, signal.SIGKILL)
        arxiv.release.set()
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Paper)) == 20

    arxiv.add(*fake_papers(5, start=BASE_TIME + timedelta(days=3), prefix="2606"))
    second = processes.start(["worker"], env)

    def stored() -> list[str]:
        db.session.rollback()
        return sorted(db.session.scalars(select(Paper.id)))

    try:
        processes.wait_for(lambda: stored() == sorted(arxiv.papers), timeout=60)
    finally:
        processes.stop(second, signal.SIGTERM)
    assert len(stored()) == 50


@pytest.fixture
def proxied_postgres(tmp_path):
    """A PostgreSQL database reached through a proxy the test can cut."""
    url = sa.engine.make_url(reset_postgres(postgres_url()))
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432)).start()
    yield proxy, url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    proxy.stop()


def test_database_outage_gives_503_and_recovers_by_itself(app, proxied_postgres):
    """The database goes away under `sanity serve`: 503s (JSON under /api), then service resumes."""
    proxy, url = proxied_postgres
    env = processes.sanity_env(app, SECRET_KEY="d" * 32, DATABASE_URL=url)
    assert processes.run(["db", "upgrade"], env).returncode == 0
    port = processes.free_port()
    server = processes.start(["serve", "--port", str(port), "--no-scheduler"], env)
    base = f"http://127.0.0.1:{port}"

    def health() -> int:
        try:
            return requests.get(base + "/api/health", timeout=5).status_code
        except requests.RequestException:
            return 0

    try:
        assert processes.wait_for(lambda: health() == 200, timeout=30)
        assert requests.get(base + "/", timeout=5).status_code == 200
        proxy.stop()
        down = requests.get(base + "/api/health", timeout=10)
        assert down.status_code == 503 and down.json()["status"] == "unavailable"
        api = requests.get(base + "/api/papers", timeout=10)
        assert api.status_code == 503 and "database" in api.json()["error"]
        page = requests.get(base + "/", timeout=10)
        assert page.status_code == 503 and "text/html" in page.headers["Content-Type"]
        assert "try again" in page.text
        assert server.poll() is None  # the service stays up

        proxy.start()  # same port: the database is back
        assert processes.wait_for(lambda: health() == 200, timeout=30)
        assert requests.get(base + "/", timeout=5).status_code == 200
        assert requests.get(base + "/api/papers", timeout=5).status_code == 200
    finally:
        processes.stop(server, signal.SIGTERM)
