"""Engine benchmark at 100,000 real papers: build, freshness, latency, memory; vs the classic way.

Run: .venv/bin/python bench/engine.py [--papers 100000] [--requests 40] [--skip-classic]
Prints numbers next to the targets; asserts nothing.
"""

from __future__ import annotations

import argparse
import importlib
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from common import ROOT, insert, load_records, make_app, require_data, stats

SANITY = str(Path(sys.executable).parent / "sanity")


def child_env(app) -> dict[str, str]:
    from sanity.engine.jobs import child_env as env_for

    return env_for(app)


# A small wrapper process runs the command, so that the peak RSS reported is the command's own
# (a child forked straight from this big process would inherit this process's high-water mark).
_WRAPPER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[1:])\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "sys.stderr.write(f'@@peak_kb={peak}\\n')\n"
    "sys.exit(code)\n"
)


def timed_child(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run a command in a child; (wall seconds, the command's peak RSS in MB, stdout)."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *args], env=env, capture_output=True, text=True
    )
    wall = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{result.stderr[-2000:]}")
    peak_kb = int(result.stderr.rsplit("@@peak_kb=", 1)[1].split()[0])
    return wall, peak_kb / 1024, result.stdout


def pick_seeds(app, records, n: int, rng: random.Random) -> dict:
    """Request inputs: 20 positives from one category, single papers, two-word queries."""
    by_cat: dict[str, list[str]] = {}
    for r in records:
        if r.get("categories"):
            by_cat.setdefault(r["categories"][0], []).append(r["id"])
    big = [c for c, ids in by_cat.items() if len(ids) >= 40]
    words = [w for r in rng.sample(records, 400) for w in r["title"].split() if len(w) > 5]
    return {
        "recommend": [rng.sample(by_cat[rng.choice(big)], 20) for _ in range(n)],
        "similar": [r["id"] for r in rng.sample(records, n)],
        "search": [" ".join(rng.sample(words, 2)) for _ in range(n)],
    }


def measure_in_process(app, seeds: dict) -> dict[str, tuple[float, float]]:
    from sanity import engine
    from sanity.db import db
    from sanity.engine.search import search
    from sanity.models import Paper
    from sanity.query import parse_query

    out = {}
    with app.app_context():
        engine.current()  # load once (warm)
        times = []
        for q in seeds["search"]:
            t = time.perf_counter()
            search(parse_query(q))
            times.append(time.perf_counter() - t)
        out["search"] = stats(times)
        times = []
        for pid in seeds["similar"]:
            paper = db.session.get(Paper, pid)
            t = time.perf_counter()
            engine.similar_to_paper(paper, 25)
            times.append(time.perf_counter() - t)
        out["similar"] = stats(times)
        times = []
        for group in seeds["recommend"]:
            t = time.perf_counter()
            engine.recommend(engine.SeedPapers(group), limit=25)
            times.append(time.perf_counter() - t)
        out["recommend"] = stats(times)
    return out


def measure_wsgi(client, seeds: dict, prefix: str = "") -> dict[str, tuple[float, float]]:
    get = client.get
    urls = {
        "search": [f"{prefix}/api/search?q={q}" for q in seeds["search"]],
        "similar": [f"{prefix}/api/papers/{pid}/similar" for pid in seeds["similar"]],
        "recommend": [f"{prefix}/api/recommend?ids={','.join(g)}" for g in seeds["recommend"]],
    }
    out = {}
    for name, batch in urls.items():
        times = []
        for url in batch:
            t = time.perf_counter()
            response = get(url)
            times.append(time.perf_counter() - t)
            assert response.status_code == 200, (url, response.status_code)
        out[name] = stats(times)
    return out


def serving_rss(app, seeds: dict) -> float:
    """RSS (MB) of a `sanity serve` process after it has answered every kind of request."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = child_env(app)
    proc = subprocess.Popen(
        [SANITY, "serve", "--no-scheduler", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                requests.get(base + "/api/health", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.2)
        session = requests.Session()

        class Client:
            def get(self, url):
                return session.get(base + url, timeout=60)

        measure_wsgi(Client(), seeds)
        status = Path(f"/proc/{proc.pid}/status").read_text()
        return int(next(x for x in status.splitlines() if x.startswith("VmRSS")).split()[1]) / 1024
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    require_data()
    parser = argparse.ArgumentParser()
    parser.add_argument("--papers", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--skip-classic", action="store_true")
    args = parser.parse_args()
    rng = random.Random(11)
    records = load_records(args.papers + 1000, seed=11)
    corpus, fresh = records[: args.papers], records[args.papers :]
    tmp = Path(tempfile.mkdtemp(prefix="sanity-bench-"))
    app = make_app(tmp / "instance", FEATURES_IN_CHILD=True)
    print(f"papers: {len(corpus):,} (+{len(fresh):,} arriving later); instance {tmp}")
    print(f"insert: {insert(app, corpus):.1f}s")

    env = child_env(app)
    wall, rss, _ = timed_child([SANITY, "compute"], env)
    print(f"full build (sanity compute, child process): {wall:.1f}s, peak RSS {rss:.0f} MB"
          f"   [target <= 180 s, <= 1024 MB]")  # fmt: skip

    insert(app, fresh)
    wall, rss, out = timed_child([SANITY, "compute", "--update"], env)
    print(f"1,000 new papers rankable (sanity compute --update): {wall:.1f}s, peak RSS {rss:.0f} MB"
          f"   [target <= 10 s]  ({out.strip()})")  # fmt: skip

    seeds = pick_seeds(app, corpus, args.requests, rng)
    ours = measure_in_process(app, seeds)
    for name, (median, p95) in ours.items():
        print(f"in-process {name:9s}: median {median:7.1f} ms  p95 {p95:7.1f} ms")
    # the module, not the function sanity.engine re-exports under the same name
    ranker = importlib.import_module("sanity.engine.serving")
    ranker._cache.items.clear()  # measure real work, not the cache of the run above
    wsgi = measure_wsgi(app.test_client(), seeds)
    for name, (median, p95) in wsgi.items():
        print(f"WSGI app   {name:9s}: median {median:7.1f} ms  p95 {p95:7.1f} ms")
    print("   [targets: recommend median <= 100 ms, similar and search median <= 20 ms]")
    print(f"serving process RSS after all request kinds: {serving_rss(app, seeds):.0f} MB"
          "   [target <= 500 MB]")  # fmt: skip

    if args.skip_classic:
        return
    seeds_file = tmp / "seeds.json"
    few = {k: v[:5] for k, v in seeds.items()}
    seeds_file.write_text(json.dumps(few))
    db_path = str(tmp / "instance" / "sanity.db")
    wall, rss, out = timed_child(
        [sys.executable, str(ROOT / "bench" / "classic.py"), db_path, str(seeds_file)], env
    )
    classic = json.loads(out)
    print(f"classic build (one fit_transform): {classic['build_s']:.1f}s, peak RSS {rss:.0f} MB")
    for name in ("search", "similar", "recommend"):
        median, _ = stats(classic[name])
        ratio = median / ours[name][0]
        print(f"classic {name:9s}: median {median:8.1f} ms  -> ours is {ratio:,.0f}x faster")
    print(f"peak RSS of this benchmark process: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
