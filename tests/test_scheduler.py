"""Job locks, the schedule, and the real processes: killed crawls, serve and worker."""

from __future__ import annotations

import os
import signal
import subprocess
from datetime import timedelta

import pytest
import requests
from sqlalchemy import func, select

from sanity.db import db
from sanity.ingest.crawler import crawl
from sanity.leases import Lease, LockBusy, new_owner
from sanity.models import CrawlRun, Paper
from sanity.scheduler import JOB_DEFAULTS, build_scheduler, crawl_job
from tests import processes
from tests.factories import BASE_TIME, fake_papers


def stored_ids() -> list[str]:
    return sorted(db.session.scalars(select(Paper.id)))


@pytest.mark.both_databases
def test_lease_excludes_a_second_holder_until_it_expires(app, clock):
    """A held lock refuses another owner; once the lease expires the other may take it."""
    first = Lease("ingest", clock, 60, owner="a").acquire()
    with pytest.raises(LockBusy, match="held by a"):
        Lease("ingest", clock, 60, owner="b").acquire()
    clock.advance(61)
    second = Lease("ingest", clock, 60, owner="b").acquire()
    with pytest.raises(LockBusy):
        first.renew()  # a holder whose lease was taken over learns it
    second.release()
    Lease("ingest", clock, 60, owner="c").acquire().release()


@pytest.mark.both_databases
def test_a_dead_local_holder_is_taken_over_but_a_remote_one_waits(app, clock):
    """A holder killed on this machine frees its lock at once; one elsewhere keeps its lease."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    machine = new_owner().rsplit(":", 2)[0]
    Lease("ingest", clock, 600, owner=f"{machine}:{dead.pid}:abcd1234").acquire()
    Lease("ingest", clock, 600, owner="b").acquire().release()  # no wait for the lease
    Lease("ingest", clock, 600, owner=f"elsewhere/pid:[1]:{dead.pid}:abcd1234").acquire()
    with pytest.raises(LockBusy, match="elsewhere"):
        Lease("ingest", clock, 600, owner="c").acquire()
    live = f"{machine}:{os.getpid()}:abcd1234"
    Lease("features", clock, 600, owner=live).acquire()
    with pytest.raises(LockBusy):
        Lease("features", clock, 600, owner="c").acquire()  # this process is alive


@pytest.mark.both_databases
def test_renew_extends_the_lease(app, clock):
    """Renewing pushes the expiry forward so a long job keeps its lock."""
    lease = Lease("ingest", clock, 60, owner="a").acquire()
    clock.advance(50)
    lease.renew()
    clock.advance(50)
    with pytest.raises(LockBusy):
        Lease("ingest", clock, 60, owner="b").acquire()


@pytest.mark.both_databases
def test_crawl_job_skips_while_another_process_crawls(app, arxiv, clock, caplog):
    """The scheduled job does nothing (and does not raise) while the lock is held elsewhere."""
    arxiv.add(*fake_papers(3))
    Lease("ingest", clock, 600, owner="elsewhere").acquire()
    caplog.set_level("INFO", logger="sanity.scheduler")
    crawl_job(app)
    assert "skipped" in caplog.text
    assert db.session.scalar(select(func.count()).select_from(Paper)) == 0


def test_scheduler_settings(app, clock):
    """Crawl every CRAWL_INTERVAL_MINUTES; coalesce, one instance, no misfire skipping."""
    app.config["CRAWL_INTERVAL_MINUTES"] = 90
    app.config["CRAWL_ON_START_IF_EMPTY"] = True
    scheduler = build_scheduler(app)
    job = scheduler.get_job("crawl")
    assert job.trigger.interval == timedelta(minutes=90)
    assert JOB_DEFAULTS == {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
    assert job.next_run_time == clock.now()  # empty database: crawl at once
    app.config["CRAWL_ON_START_IF_EMPTY"] = False
    later = build_scheduler(app).get_job("crawl")
    assert later.next_run_time == clock.now() + timedelta(minutes=90)


@pytest.mark.both_databases
def test_simulated_day_of_schedule_gets_every_paper(app, arxiv, clock):
    """Hours of simulated schedule: every announcement is fetched, politely, by the jobs."""
    app.config["CRAWL_INTERVAL_MINUTES"] = 120
    app.config["CRAWL_PAGE_SIZE"] = 20
    scheduler = build_scheduler(app)
    trigger = scheduler.get_job("crawl").trigger
    fire = scheduler.get_job("crawl").next_run_time
    end = clock.now() + timedelta(hours=30)
    runs = 0
    announced = 0
    while fire <= end:
        clock.advance((fire - clock.now()).total_seconds())
        if runs % 6 == 0:  # a daily-ish announcement of 37 papers
            arxiv.add(
                *fake_papers(37, start=BASE_TIME + timedelta(days=runs), prefix=f"26{runs:02d}")
            )
            announced += 37
        crawl_job(app)
        runs += 1
        fire = trigger.get_next_fire_time(fire, clock.now() + timedelta(seconds=1))
    assert runs == 30 * 60 // 120
    assert len(stored_ids()) == announced == len(arxiv.papers)
    statuses = db.session.scalars(select(CrawlRun.status)).all()
    assert statuses == ["ok"] * runs
    # quiet runs stop after the known-page rule: at most a few requests each
    assert len(arxiv.api_requests()) <= runs * 4


@pytest.mark.both_databases
@pytest.mark.slow
def test_killed_crawl_loses_nothing_and_does_not_block(app, arxiv, clock):
    """SIGKILL mid-crawl: committed pages stay, the dead holder's lock is freed, no loss."""
    app.config["CRAWL_PAGE_SIZE"] = 10
    arxiv.add(*fake_papers(10))
    crawl(clock)
    arxiv.add(*fake_papers(45, start=BASE_TIME + timedelta(days=2), prefix="2604"))
    arxiv.stall_at = len(arxiv.log) + 3  # the child's third request hangs
    child = processes.start(["crawl"], processes.sanity_env(app))
    try:
        assert arxiv.stalled.wait(30), "the child never reached its third request"
    finally:
        processes.stop(child, signal.SIGKILL)
        arxiv.release.set()
    db.session.expire_all()
    assert len(stored_ids()) == 30  # two pages were committed before the kill
    run = crawl(clock)  # the holder is dead: no wait for its lease to expire
    assert run.status == "ok"
    assert stored_ids() == sorted(arxiv.papers)
    runs = db.session.scalars(CrawlRun.latest()).all()
    assert runs[1].status == "failed" and "interrupted" in runs[1].error


@pytest.mark.both_databases
@pytest.mark.slow
def test_two_processes_never_crawl_at_once(app, arxiv):
    """A second `sanity crawl` while one runs exits 1 naming the holder."""
    arxiv.add(*fake_papers(5))
    arxiv.stall_at = len(arxiv.log) + 1
    first = processes.start(["crawl"], processes.sanity_env(app))
    try:
        assert arxiv.stalled.wait(30)
        second = processes.run(["crawl"], processes.sanity_env(app))
        assert second.returncode == 1
        assert "already running" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        arxiv.release.set()
    out, err = first.communicate(timeout=30)
    assert first.returncode == 0, err
    assert "api ok: 1 pages, 5 new" in out


@pytest.mark.both_databases
@pytest.mark.slow
def test_serve_crawls_at_start_and_on_schedule(app, arxiv):
    """`sanity serve` on an empty database shows papers soon after start and new ones later."""
    arxiv.add(*fake_papers(12))
    port = processes.free_port()
    env = processes.sanity_env(
        app,
        SECRET_KEY="x" * 32,
        CRAWL_INTERVAL_MINUTES="0.03",
        CRAWL_ON_START_IF_EMPTY="true",
    )
    server = processes.start(["serve", "--port", str(port)], env)
    base = f"http://127.0.0.1:{port}"

    def count() -> int:
        try:
            return requests.get(f"{base}/api/stats", timeout=2).json()["papers"]
        except requests.RequestException:
            return 0

    try:
        assert processes.wait_for(lambda: count() == 12, timeout=30)
        page = requests.get(base + "/", timeout=5).text
        assert "Fake paper 12 on $\\alpha$-divergences &amp; &lt;graphs&gt;" in page
        assert "added 12 papers" in page
        arxiv.add(*fake_papers(4, start=BASE_TIME + timedelta(days=1), prefix="2604"))
        assert processes.wait_for(lambda: count() == 16, timeout=30)
        assert requests.get(base + "/api/health", timeout=5).json() == {"status": "ok"}
    finally:
        processes.stop(server, signal.SIGTERM)


@pytest.mark.both_databases
@pytest.mark.slow
def test_worker_crawls_and_stops_on_sigterm(app, arxiv):
    """`sanity worker` runs the schedule alone and exits cleanly on SIGTERM."""
    arxiv.add(*fake_papers(7))
    env = processes.sanity_env(app, SECRET_KEY="y" * 32, CRAWL_ON_START_IF_EMPTY="true")
    worker = processes.start(["worker"], env)

    def stored() -> int:
        db.session.rollback()
        return db.session.scalar(select(func.count()).select_from(Paper))

    try:
        assert processes.wait_for(lambda: stored() == 7, timeout=30)
    finally:
        processes.stop(worker, signal.SIGTERM)
    assert worker.returncode == 0


def test_serve_and_worker_refuse_without_a_secret_key(app, tmp_path):
    """Without SECRET_KEY, serve and worker exit with one clear line."""
    env = processes.sanity_env(app)
    env["SANITY_INSTANCE_PATH"] = str(tmp_path / "empty-instance")
    for command in (["serve", "--no-scheduler"], ["worker"]):
        result = processes.run(command, env, timeout=30)
        assert result.returncode == 1
        assert "SECRET_KEY is not set" in result.stderr
        assert "Traceback" not in result.stderr
