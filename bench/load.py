"""Load benchmark: real servers on 127.0.0.1 under concurrent mixed traffic, then under a crawl.

Run: .venv/bin/python bench/load.py [--papers 100000] [--clients 32] [--seconds 60]
     [--servers serve,gunicorn] [--db postgresql://sanity:sanity@127.0.0.1:5432/sanity_test]
Loads the shared arXiv metadata into a fresh database (SQLite in a temporary folder, or a private
schema of the PostgreSQL database given; dates shifted as in bench/web.py), builds the features
and makes users with API tokens. For each server (`sanity serve --no-scheduler`, gunicorn with 4
workers) it runs --clients keep-alive HTTP clients for --seconds of mixed traffic (lists, search,
paper pages, similar, recommend, tag writes; 10 s timeout), first alone, then while `sanity
crawl` runs against tests/arxiv_server.py's fake arXiv in a child process (200 fresh papers
every 15 s; the crawl restarts whenever it ends) and `sanity compute` rebuilds every feature
(restarted when it ends; waited for after the window, so the next server starts quiet).
Prints requests/s, p50/p95/p99, errors and the peak RSS and PSS of the server's process tree
next to the targets; asserts nothing.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import multiprocessing
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote_plus

from common import ROOT, fill, load_records, make_app, require_data
from web import make_tags, shift_dates

BIN = Path(sys.executable).parent
TIMEOUT = 10.0
TARGET_P95_MS = 300
MIX = {"list": 20, "search": 20, "paper": 20, "similar": 15, "recommend": 10, "tag write": 15}
CATEGORIES = ["cs.LG", "cs.CV", "cs.CL", "math.PR", "hep-th", "astro-ph.GA"]
CRAWLED = {"cs.CV", "cs.LG", "cs.CL", "cs.AI", "cs.NE", "cs.RO", "stat.ML"}  # ARXIV_QUERY


@dataclass
class Workload:
    """What the clients ask for: paper ids, search words, recommendation seeds, tokens."""

    ids: list[str]
    words: list[str]
    seeds: list[list[str]]
    tags: list[str]
    owner_token: str  # the owner of `tags`
    tokens: list[str]  # one user per client, for tag writes

    def pick(self, rng: random.Random, client: int) -> tuple[str, list[tuple[str, str, dict]]]:
        """A request kind and its (method, path, headers) requests."""
        kind = rng.choices(list(MIX), list(MIX.values()))[0]
        pid, page = rng.choice(self.ids), rng.randint(1, 20)
        query = quote_plus(" ".join(rng.sample(self.words, 2)))
        if kind == "list":
            cat = rng.choice(CATEGORIES)
            paths = ["/", f"/?page={page}", f"/api/papers?page={page}", f"/?days=7&category={cat}"]
            return kind, [("GET", rng.choice(paths), {})]
        if kind == "search":
            return kind, [("GET", rng.choice([f"/api/search?q={query}", f"/?q={query}"]), {})]
        if kind == "paper":
            return kind, [("GET", f"/paper/{pid}", {})]
        if kind == "similar":
            return kind, [("GET", f"/api/papers/{pid}/similar?limit=10", {})]
        if kind == "recommend" and rng.random() < 0.5:  # a fresh model per request
            ids = ",".join(rng.sample(rng.choice(self.seeds), 3))
            return kind, [("GET", f"/api/recommend?ids={ids}&limit=10", {})]
        if kind == "recommend":  # a tag's model: cached per feature build
            auth = {"Authorization": f"Bearer {self.owner_token}"}
            return kind, [("GET", f"/api/recommend?tags={rng.choice(self.tags)}&limit=10", auth)]
        auth = {"Authorization": f"Bearer {self.tokens[client]}"}
        path = f"/api/tags/load/papers/{pid}"
        return kind, [("PUT", path, auth), ("DELETE", path, auth)]


@dataclass
class Phase:
    seconds: float
    times: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter = field(default_factory=Counter)  # "kind METHOD: what" -> count
    examples: dict[str, str] = field(default_factory=dict)  # an example path per error
    peak_rss_mb: float = 0.0
    peak_pss_mb: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def all_times(self) -> list[float]:
        return [t for times in self.times.values() for t in times]


def percentiles(values: list[float]) -> tuple[float, ...]:
    """(p50, p95, p99) in milliseconds, the index convention of common.stats."""
    ordered = sorted(values) or [float("nan")]
    last = len(ordered) - 1
    return tuple(ordered[min(last, int(round(q * last)))] * 1000 for q in (0.5, 0.95, 0.99))


def send(conn: http.client.HTTPConnection, method: str, path: str, headers: dict) -> str | None:
    """One request on a keep-alive connection; None if it succeeded, else what went wrong."""
    try:
        conn.request(method, path, headers=headers)
        response = conn.getresponse()
        response.read()
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        return type(exc).__name__
    return f"HTTP {response.status}" if response.status >= 400 else None


def client(port: int, work: Workload, index: int, until: float, phase: Phase) -> None:
    rng = random.Random(index)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    times: dict[str, list[float]] = {}
    errors: Counter = Counter()
    examples: dict[str, str] = {}
    while time.monotonic() < until:
        kind, requests = work.pick(rng, index)
        for method, path, headers in requests:
            started = time.perf_counter()
            error = send(conn, method, path, headers)
            times.setdefault(kind, []).append(time.perf_counter() - started)
            if error:
                errors[f"{kind} {method}: {error}"] += 1
                examples[f"{kind} {method}: {error}"] = path
                break
    conn.close()
    with phase.lock:
        for kind, values in times.items():
            phase.times.setdefault(kind, []).extend(values)
        phase.errors.update(errors)
        phase.examples.update(examples)


def tree_memory_mb(pid: int) -> tuple[float, float]:
    """(RSS, PSS) of a process and all its descendants. The RSS sum counts pages the processes
    share (the memory-mapped features, forked code) once per process; PSS splits them."""
    rss_kb, pss_kb, pending = 0, 0, [pid]
    while pending:
        proc = Path(f"/proc/{pending.pop()}")
        try:
            rollup = (proc / "smaps_rollup").read_text()
            for task in (proc / "task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
        for field_name, unit in (("Rss", "rss"), ("Pss", "pss")):
            match = re.search(rf"^{field_name}:\s+(\d+)", rollup, re.MULTILINE)
            if match and unit == "rss":
                rss_kb += int(match.group(1))
            elif match:
                pss_kb += int(match.group(1))
    return rss_kb / 1024, pss_kb / 1024


def run_load(port: int, server_pid: int, work: Workload, clients: int, seconds: float) -> Phase:
    phase = Phase(seconds)
    until = time.monotonic() + seconds
    threads = [
        threading.Thread(target=client, args=(port, work, i, until, phase)) for i in range(clients)
    ]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        rss, pss = tree_memory_mb(server_pid)
        phase.peak_rss_mb = max(phase.peak_rss_mb, rss)
        phase.peak_pss_mb = max(phase.peak_pss_mb, pss)
        time.sleep(0.5)
    return phase


class Jobs:
    """`sanity crawl` against the fake arXiv and `sanity compute`, kept running."""

    def __init__(self, env: dict, log: Path) -> None:
        self.env, self.log = env, log
        self.running: dict[str, tuple[subprocess.Popen, float]] = {}
        self.not_before = {"crawl": 0.0, "compute": 0.0}  # a failed job waits before its retry
        self.done: dict[str, list[tuple[float, int, str]]] = {"crawl": [], "compute": []}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop)

    def launch(self, job: str) -> None:
        with self.log.open("a") as out:
            proc = subprocess.Popen([str(BIN / "sanity"), job], env=self.env, cwd=ROOT,
                                    stdout=subprocess.PIPE, stderr=out, text=True)  # fmt: skip
        self.running[job] = (proc, time.monotonic())

    def loop(self) -> None:
        while True:
            for job in ("crawl", "compute"):
                proc, started = self.running.get(job, (None, 0.0))
                if proc is not None and proc.poll() is not None:
                    last = (proc.stdout.read().strip().splitlines() or ["(no output)"])[-1]
                    self.done[job].append((time.monotonic() - started, proc.returncode, last))
                    self.not_before[job] = time.monotonic() + (2 if proc.returncode else 0)
                    del self.running[job]
                ready = time.monotonic() >= self.not_before[job]
                if job not in self.running and ready and not self.stop.is_set():
                    self.launch(job)
            if self.stop.is_set() and not self.running:
                return
            time.sleep(0.2)

    def summary(self, window: float) -> list[str]:
        lines = []
        for job, runs in self.done.items():
            ok = [r for r in runs if r[1] == 0]
            took = ", ".join(f"{r[0]:.0f}" for r in ok) or "-"
            line = f"  {job}: {len(ok)} finished (took {took} s), {len(runs) - len(ok)} failed"
            if job == "crawl":
                new = sum(int(n) for r in ok for n in re.findall(r"(\d+) new", r[2]))
                line += f"; {new:,} new papers"
            elif ok:
                first = "finished within" if ok[0][0] <= window else "ran past"
                line += f"; the first {first} the {window:.0f} s window"
            lines.append(line)
            lines += [f"    failed: {r[2][:150]}" for r in runs if r[1] != 0][:3]
        return lines


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(kind: str, env: dict, port: int, log: Path, options: str) -> subprocess.Popen:
    if kind == "serve":
        cmd = [str(BIN / "sanity"), "serve", "--port", str(port), "--no-scheduler"]
    else:
        cmd = [str(BIN / "gunicorn"), *options.split(), "-b", f"127.0.0.1:{port}",
               "sanity:create_app()"]  # fmt: skip
    with log.open("a") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=out,
                                start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        healthy = send(conn, "GET", "/api/health", {}) is None
        conn.close()
        if healthy:
            return proc
        time.sleep(0.3)
    stop_server(proc)
    raise SystemExit(f"{kind} did not become healthy:\n{log.read_text()[-2000:]}")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def private_schema(url: str, drop: bool = False) -> str:
    """A fresh PostgreSQL schema for this run (search_path in the URL), or drop it."""
    import sqlalchemy as sa

    from sanity.db import normalize_url

    schema, base = f"bench_load_{os.getpid()}", sa.engine.make_url(normalize_url(url))
    engine = sa.create_engine(base)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        if not drop:
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    scoped = base.update_query_dict({"options": f"-csearch_path={schema}"})
    return scoped.render_as_string(hide_password=False)


def prepare(records: list[dict], tmp: Path, url: str | None, clients: int) -> tuple[dict, Workload]:
    """Fill the database and the features; the environment of the server processes."""
    from sanity.accounts import tags
    from sanity.accounts import users as accounts

    app = make_app(tmp, **({"DATABASE_URL": url} if url else {}))
    fill(app, records)
    rng = random.Random(11)
    names = make_tags(app, records, 20, rng)
    with app.app_context():
        owner = accounts.find_user("bench")
        seeds = [entry["positive"] for entry in tags.user_tags(owner).values()]
        owner_token = accounts.create_token(owner)
        users = [accounts.create_user(f"load{i}", None) for i in range(clients)]
        tokens = [accounts.create_token(user) for user in users]
    titles = [r["title"] for r in rng.sample(records, 400)]
    words = [w for t in titles for w in t.split() if w.isalpha() and len(w) > 5]
    ids = [r["id"] for r in records]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANITY_")}
    env.update(
        SANITY_DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        SANITY_INSTANCE_PATH=app.instance_path,
        SANITY_DATA_DIR=app.config["DATA_DIR"],
        SANITY_SECRET_KEY=secrets.token_hex(32),
        SANITY_ARXIV_DELAY_SECONDS="0",
    )
    work = Workload(ids, words, seeds, names, owner_token, tokens)
    return env, work


def report(name: str, phase: Phase) -> tuple[float, int]:
    values = phase.all_times
    p50, p95, p99 = percentiles(values)
    errors = sum(phase.errors.values())
    rate = len(values) / phase.seconds
    print(f"{name:<22}{len(values):>9,}{rate:>8.1f}{p50:>9.0f}{p95:>9.0f}{p99:>9.0f}"
          f"{errors:>8}{phase.peak_rss_mb:>10.0f}{phase.peak_pss_mb:>10.0f}")  # fmt: skip
    for kind in MIX:
        k50, k95, _ = percentiles(phase.times.get(kind, []))
        n = len(phase.times.get(kind, []))
        print(f"    {kind:<18}{n:>9,}{'':>8}{k50:>9.0f}{k95:>9.0f}")
    for error, n in phase.errors.most_common(5):
        print(f"    {n} x {error} (e.g. {phase.examples[error][:60]})")
    return p95, errors


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def fresh_papers(pool: list[dict], rng: random.Random, n: int, numbers) -> list:
    """n papers with real titles and abstracts under new ids (not in the shared data)."""
    from tests.arxiv_server import FakePaper

    now, papers = datetime.now(UTC), []
    for i in range(n):
        r, k = rng.choice(pool), next(numbers)
        pid = f"29{k // 99_999 % 12 + 1:02d}.{k % 99_999 + 1:05d}"
        when = now - timedelta(seconds=n - i)
        record = (r["title"], r["abstract"], r["authors"], r["categories"])
        papers.append(FakePaper(pid, *record, when))
    return papers


def fake_arxiv(port: int, pool: list[dict], first: int, every: float = 15.0) -> None:
    """The fake arXiv, in its own process so that serving Atom does not slow the clients here;
    200 new papers appear every `every` seconds."""
    from tests.arxiv_server import FakeArxiv, _handler

    fake, rng, numbers = FakeArxiv(), random.Random(first), itertools.count(first)
    fake.server = ThreadingHTTPServer(("127.0.0.1", port), _handler(fake))
    fake.server.daemon_threads = True
    threading.Thread(target=fake.server.serve_forever, daemon=True).start()
    while True:
        fake.add(*fresh_papers(pool, rng, 200, numbers))
        time.sleep(every)


def bench_server(kind: str, env: dict, work: Workload, args, pool: list[dict], tmp: Path) -> None:
    port, log, arxiv_port = free_port(), tmp / f"{kind}.log", free_port()
    fake = multiprocessing.get_context("fork").Process(
        target=fake_arxiv,
        args=(arxiv_port, pool, 50_000 * ("serve", "gunicorn").index(kind)),
        daemon=True,
    )
    fake.start()
    env = env | {"SANITY_ARXIV_API_URL": f"http://127.0.0.1:{arxiv_port}/api/query"}
    server = start_server(kind, env, port, log, args.gunicorn)
    try:
        run_load(port, server.pid, work, args.clients, min(10.0, args.seconds / 4))  # warm-up
        quiet = run_load(port, server.pid, work, args.clients, args.seconds)
        jobs = Jobs(env, tmp / f"{kind}-jobs.log")
        jobs.thread.start()
        try:
            busy = run_load(port, server.pid, work, args.clients, args.seconds)
        finally:
            jobs.stop.set()
            jobs.thread.join()
    finally:
        stop_server(server)
        fake.kill()
    print(f"\n{kind}: {args.clients} clients, {args.seconds:.0f} s per phase\n")
    print(f"{'phase':<22}{'requests':>9}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
          f"{'errors':>8}{'RSS MB':>10}{'PSS MB':>10}")  # fmt: skip
    quiet_p95, quiet_errors = report("alone", quiet)
    busy_p95, busy_errors = report("crawl + full rebuild", busy)
    print("background jobs during the second phase:")
    print("\n".join(jobs.summary(args.seconds)))
    for name in (log, jobs.log):
        problems = [line for line in name.read_text().splitlines() if "ERROR" in line]
        print(f"{name.name}: {len(problems)} ERROR lines")
        print("".join(f"    {line[:160]}\n" for line in problems[:3]), end="")
    print(f"target 0 errors: {verdict(quiet_errors + busy_errors == 0)}")
    print(f"target p95 <= {TARGET_P95_MS} ms (alone): {verdict(quiet_p95 <= TARGET_P95_MS)}")
    ratio = busy_p95 / quiet_p95
    print(f"target p95 under rebuild <= 2x: {verdict(ratio <= 2)} ({ratio:.2f}x)", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--servers", default="serve,gunicorn")
    parser.add_argument("--gunicorn", default="-w 4", help="gunicorn options (default: -w 4)")
    parser.add_argument("--db", help="a PostgreSQL URL (default: SQLite in a temporary folder)")
    args = parser.parse_args()
    require_data()
    records = load_records(args.papers)
    shift_dates(records)
    pool = [r for r in records if CRAWLED & set(r.get("categories") or [])]
    url = private_schema(args.db) if args.db else None
    try:
        with tempfile.TemporaryDirectory(prefix="sanity-load-") as tmp:
            env, work = prepare(records, Path(tmp), url, args.clients)
            for kind in args.servers.split(","):
                bench_server(kind, env, work, args, pool, Path(tmp))
    finally:
        if args.db:
            private_schema(args.db, drop=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
