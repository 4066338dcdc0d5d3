"""The scaled deployment for real: gunicorn with several workers plus one `sanity worker`, on
PostgreSQL, sharing DATA_DIR (README, "Deployment").

gunicorn's access log names the process that answered each request, so the tests can check
that every web worker, not just one, sees new papers, new feature builds and shared limits.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from sanity.accounts import users as accounts
from sanity.engine import store
from tests import processes
from tests.arxiv_server import topical_fake_papers
from tests.factories import csrf_from, random_corpus

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]

GUNICORN = str(Path(sys.executable).parent / "gunicorn")
ACCESS = re.compile(r"^<(\d+)> (\S+) (\S+) (\d{3})$")


class Gunicorn:
    """`gunicorn 'sanity:create_app()'` on a free port, its access log collected per line."""

    def __init__(self, env: dict[str, str], workers: int, *extra: str) -> None:
        self.port = processes.free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [GUNICORN, "-w", str(workers), "-b", f"127.0.0.1:{self.port}", "--timeout", "60",
             "--access-logfile", "-", "--access-logformat", "%(p)s %(m)s %(U)s %(s)s",
             "--no-control-socket",
             *extra, "sanity:create_app()"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        threading.Thread(target=self._read, daemon=True).start()
        try:
            processes.wait_for(self.healthy, timeout=120)
        except BaseException:
            self.stop()
            raise

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def healthy(self) -> bool:
        assert self.proc.poll() is None, "\n".join(self.lines[-30:])
        try:
            return requests.get(self.base + "/api/health", timeout=10).status_code == 200
        except requests.RequestException:
            return False

    def pids_for(self, path: str) -> set[int]:
        """The processes that answered requests for `path` so far."""
        return {int(m[1]) for line in self.lines if (m := ACCESS.match(line)) and m[3] == path}

    def stop(self) -> None:
        processes.stop(self.proc, signal.SIGTERM, timeout=30)


def fan_out(url: str, n: int = 24, parallel: int = 6) -> list[requests.Response]:
    """n GETs, `parallel` at a time on separate connections: several workers must answer."""
    with ThreadPoolExecutor(parallel) as pool:
        return list(pool.map(lambda _: requests.get(url, timeout=10), range(n)))


@pytest.fixture
def deployment_env(app):
    return processes.sanity_env(app, SECRET_KEY="p" * 32)


def test_every_web_worker_sees_what_the_worker_crawls_and_builds(app, arxiv, deployment_env):
    """gunicorn (3 workers) + `sanity worker`: papers and feature builds reach every worker."""
    newest = datetime.now(UTC).replace(microsecond=0)
    arxiv.add(*topical_fake_papers(40, newest))
    env = deployment_env | {
        "SANITY_CRAWL_ON_START_IF_EMPTY": "true",
        "SANITY_CRAWL_INTERVAL_MINUTES": "0.05",
    }
    web = Gunicorn(env, 3)
    worker = processes.start(["worker"], env)
    try:
        first = sorted(arxiv.papers)[0]

        def similar_everywhere(pid: str) -> bool:
            answers = fan_out(f"{web.base}/api/papers/{pid}/similar")
            return all(r.status_code == 200 and r.json()["papers"] for r in answers)

        processes.wait_for(lambda: similar_everywhere(first), timeout=60)
        assert len(web.pids_for(f"/api/papers/{first}/similar")) >= 2

        later = topical_fake_papers(5, datetime.now(UTC).replace(microsecond=0), first=41)
        arxiv.add(*later)
        pid = later[0].id
        processes.wait_for(lambda: similar_everywhere(pid), timeout=60)
        assert len(web.pids_for(f"/api/papers/{pid}/similar")) >= 2
        for page in fan_out(f"{web.base}/paper/{pid}", n=12):
            assert page.status_code == 200 and "Synthetic paper 41" in page.text
    finally:
        processes.stop(worker, signal.SIGTERM)
        web.stop()
    assert worker.returncode == 0


def test_failed_logins_are_counted_across_workers(app, deployment_env):
    """Each request lands on a fresh process (--max-requests 1): the limit still holds."""
    accounts.create_user("lena", "right password")
    env = deployment_env | {"SANITY_LOGIN_LIMIT_PER_USER": "3 per minute"}
    web = Gunicorn(env, 2, "--max-requests", "1")
    try:
        codes = []
        for _ in range(4):
            session = requests.Session()
            token = csrf_from(session.get(web.base + "/login", timeout=30).text)
            response = session.post(
                web.base + "/login",
                data={"csrf_token": token, "username": "lena", "password": "wrong"},
                timeout=30,
                allow_redirects=False,
            )
            codes.append(response.status_code)
        assert codes == [401, 401, 401, 429]
        assert int(response.headers["Retry-After"]) > 0
        # every request had a process of its own (the log line follows the response)
        processes.wait_for(lambda: len(web.pids_for("/login")) == 8, timeout=15)
    finally:
        web.stop()


def test_a_crawl_and_a_full_build_never_block_page_views(app, arxiv, deployment_env):
    """While `sanity compute` rebuilds and `sanity crawl` waits on a slow arXiv, pages answer."""
    ids = random_corpus(12000)
    assert processes.run(["compute"], deployment_env, timeout=300).returncode == 0
    old = store.current_build_id(app.config["DATA_DIR"])
    arxiv.add(*topical_fake_papers(10, datetime.now(UTC).replace(microsecond=0)))
    for _ in range(3):
        arxiv.fault("delay", seconds=4)
    web = Gunicorn(deployment_env, 2)
    build = processes.start(["compute"], deployment_env)
    crawl = processes.start(["crawl"], deployment_env)
    urls = ["/", f"/paper/{ids[5]}", f"/api/papers/{ids[5]}/similar", "/api/search?q=w1",
            "/?rank=search&q=w2"]  # fmt: skip
    slowest, served_during_build = 0.0, 0
    try:
        while build.poll() is None:
            for url in urls:
                started = time.monotonic()
                response = requests.get(web.base + url, timeout=10)
                slowest = max(slowest, time.monotonic() - started)
                assert response.status_code == 200, (url, response.text[:300])
                served_during_build += build.poll() is None
        assert build.returncode == 0
        assert crawl.wait(timeout=120) == 0
    finally:
        for proc in (build, crawl):
            processes.stop(proc, signal.SIGKILL)
        web.stop()
    assert served_during_build >= 10, "the build ended too soon to show anything"
    assert slowest < 5, f"a request took {slowest:.1f}s while the build ran"
    assert store.current_build_id(app.config["DATA_DIR"]) != old
