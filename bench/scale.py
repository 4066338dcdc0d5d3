"""Scale benchmark: N resampled papers through the CLI and HTTP (import, build, serve, disk).

Run: .venv/bin/python bench/scale.py [--papers 100000] [--database-url postgresql://...]
     [--keep DIR] [--corpus-cache DIR]

The corpus is the shared arXiv metadata resampled within each primary category (seeded): real
titles, abstract sentences recombined from papers of the same category, real author lists and
category lists. Ids are new-style `98MM.NNNNN` / `99MM.NNNNN`: arXiv only began new-style ids
in 0704, so they can never collide with real papers. The corpus is written in arXiv's snapshot
format and fed to `sanity import` in a child process; the whole process tree's resident memory
is polled from /proc. Then `sanity compute`, then `sanity serve` answers search, similar,
recommend and newest-list requests through HTTP. Prints every row next to its target;
asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from common import load_records, require_data
from sqlalchemy import create_engine, text

SANITY = str(Path(sys.executable).parent / "sanity")
QUERIES = [
    "neural network", "deep learning", "reinforcement learning", "language model",
    "black hole", "quantum", "graph", "transformer",
]  # fmt: skip
# (target at 1M, target at 100k) per row; None: no target
TARGETS = {
    "import_rate": (3000, None),
    "rankable_rate": (2000, None),
    "import_peak": (1536, None),
    "compute_s": (300, 60),
    "compute_peak": (1536, 600),
    "search_p50": (50, 20),
    "search_max": (150, None),
    "similar_p50": (40, 10),
    "recommend_p50": (150, 40),
    "newest_p50": (15, 8),
    "serve_anon": (600, None),
}


# ---- the corpus ----


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]


def make_corpus(path: Path, n: int, seed: int = 13) -> None:
    """Write `n` resampled papers in arXiv's snapshot format (one JSON object a line)."""
    rng = random.Random(seed)
    records = [r for r in load_records() if r.get("categories") and r.get("abstract")]
    pools: dict[str, dict[str, list]] = {}
    for r in records:
        pool = pools.setdefault(r["categories"][0], {"records": [], "sentences": []})
        pool["records"].append(r)
        sentences = _sentences(r["abstract"])
        pool["sentences"].extend(sentences)
        r["sentence_count"] = max(1, len(sentences))
    start = datetime(2017, 1, 1, tzinfo=UTC)
    span = (datetime(2026, 11, 1, tzinfo=UTC) - start).total_seconds()
    with open(path, "w", encoding="utf-8") as out:
        for i in range(n):
            template = rng.choice(records)  # categories follow the real mix
            pool = pools[template["categories"][0]]
            title = rng.choice(pool["records"])["title"]
            k = template["sentence_count"]
            abstract = " ".join(rng.choice(pool["sentences"]) for _ in range(k))
            authors = rng.choice(pool["records"]).get("authors") or []
            published = start + timedelta(seconds=span * i / n + rng.random() * 3600)
            month, number = divmod(i, 100_000)
            pid = f"{98 + month // 12}{month % 12 + 1:02d}.{number:05d}"
            line = {
                "id": pid,
                "title": title,
                "abstract": abstract,
                "authors": ", ".join(a.replace(",", " ") for a in authors),
                "categories": " ".join(template["categories"]),
                "versions": [
                    {"version": "v1", "created": published.strftime("%a, %d %b %Y %H:%M:%S GMT")}
                ],
                "update_date": published.strftime("%Y-%m-%d"),
            }
            out.write(json.dumps(line) + "\n")


def corpus_file(n: int, cache: Path) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"scale-{n}.jsonl"
    if not path.exists():
        started = time.monotonic()
        tmp = path.with_suffix(".tmp")
        make_corpus(tmp, n)
        tmp.rename(path)
        print(f"corpus: {n:,} papers written to {path} in {time.monotonic() - started:.0f}s")
    return path


# ---- processes and memory ----


def _tree(root: int) -> list[int]:
    """`root` and its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def memory(pid: int) -> dict[str, int]:
    """RssAnon, RssFile, RssShmem, VmRSS of one process in kB (empty if it is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    keys = ("RssAnon", "RssFile", "RssShmem", "VmRSS")
    return {
        line.split(":")[0]: int(line.split()[1])
        for line in text.splitlines()
        if line.startswith(keys)
    }


def tree_rss_mb(root: int) -> float:
    return sum(memory(pid).get("VmRSS", 0) for pid in _tree(root)) / 1024


def run_polled(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run a command; (wall seconds, peak resident MB of its whole process tree, stdout)."""
    started = time.monotonic()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = [0.0]
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss_mb(proc.pid))
            done.wait(0.1)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    out, err = proc.communicate()
    wall = time.monotonic() - started
    done.set()
    poller.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{err.decode()[-3000:]}")
    return wall, peak[0], out.decode()


# ---- HTTP ----


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed_gets(session: requests.Session, urls: list[str]) -> list[float]:
    times = []
    for url in urls:
        started = time.perf_counter()
        response = session.get(url, timeout=120)
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{url}: {response.status_code} {response.text[:300]}")
    return times


def p50(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def serve_and_measure(env: dict[str, str], corpus: Path, n: int) -> dict[str, float]:
    rng = random.Random(5)
    by_cat: dict[str, list[str]] = {}
    with open(corpus, encoding="utf-8") as f:
        for number, line in enumerate(f):
            if number % max(1, n // 200_000) == 0:  # a sample is enough to pick seeds
                obj = json.loads(line)
                by_cat.setdefault(obj["categories"].split()[0], []).append(obj["id"])
    big = [c for c, ids in by_cat.items() if len(ids) >= 40]
    everything = [pid for ids in by_cat.values() for pid in ids]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [SANITY, "serve", "--no-scheduler", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    out: dict[str, float] = {}
    try:
        session = requests.Session()
        for _ in range(300):
            try:
                session.get(base + "/api/health", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.2)
        similar = [f"{base}/api/papers/{pid}/similar" for pid in rng.sample(everything, 40)]
        groups = [rng.sample(by_cat[rng.choice(big)], 20) for _ in range(20)]
        recommend = [f"{base}/api/recommend?ids={','.join(g)}" for g in groups]
        newest = [f"{base}/api/papers?page={p}" for p in (1, 2, 3, 1, 5)] * 4
        timed_gets(session, similar[:2] + recommend[:1] + newest[:1])  # load the build once
        searches = [f"{base}/api/search?q={q}" for q in QUERIES]
        first = timed_gets(session, searches)  # each query's first run
        again = timed_gets(session, searches * 2)
        out["search_p50"] = p50(first + again)
        out["search_max"] = max(first + again)
        out["similar_p50"] = p50(timed_gets(session, similar))
        out["recommend_p50"] = p50(timed_gets(session, recommend))
        out["newest_p50"] = p50(timed_gets(session, newest))
        mem = {k: 0 for k in ("RssAnon", "RssFile", "RssShmem", "VmRSS")}
        for pid in _tree(proc.pid):
            for key, value in memory(pid).items():
                mem[key] += value
        out["serve_anon"] = mem["RssAnon"] / 1024
        out["serve_file"] = (mem["RssFile"] + mem["RssShmem"]) / 1024
        out["serve_rss"] = mem["VmRSS"] / 1024
    finally:
        proc.terminate()
        proc.wait(20)
    return out


# ---- disk ----


def du_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 2**20
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def disk(instance: Path, url: str | None) -> dict[str, float]:
    sizes = {"features": du_mb(instance / "data" / "features")}
    if url is None:
        db_path = instance / "sanity.db"
        sizes["database"] = sum(du_mb(p) for p in instance.glob("sanity.db*"))
        try:
            with sqlite3.connect(db_path) as conn:
                (fts,) = conn.execute(
                    "SELECT SUM(pgsize) FROM dbstat WHERE name LIKE 'papers_fts%'"
                ).fetchone()
            sizes["of which search index"] = (fts or 0) / 2**20
        except Exception as exc:  # noqa: BLE001 - dbstat is optional in SQLite builds
            print(f"  (search index size unknown: {exc})")
    else:
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.connect() as conn:
            total = conn.execute(text("SELECT pg_database_size(current_database())")).scalar()
            index = conn.execute(text("SELECT pg_relation_size('ix_papers_search')")).scalar()
        engine.dispose()
        sizes["database"] = total / 2**20
        sizes["of which search index (GIN)"] = index / 2**20
    return sizes


# ---- main ----


def fresh_env(instance: Path, url: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        SANITY_INSTANCE_PATH=str(instance),
        SANITY_SECRET_KEY="s" * 32,
        SANITY_RATELIMIT_ENABLED="false",
    )
    env.pop("SANITY_DATA_DIR", None)
    if url:
        env["SANITY_DATABASE_URL"] = url
    else:
        env.pop("SANITY_DATABASE_URL", None)
    return env


def reset_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def row(label: str, value: str, key: str | None, n: int, number: float | None = None) -> None:
    target = ""
    if key is not None:
        big, small = TARGETS[key]
        goal = big if n >= 500_000 else small
        if goal is not None and number is not None:
            higher = key.endswith("rate")
            ok = number >= goal if higher else number <= goal
            target = f"{'>=' if higher else '<='} {goal:,}  {'ok' if ok else 'MISSED'}"
    print(f"{label:<58}{value:>22}   {target}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=100_000)
    parser.add_argument(
        "--database-url", help="a dedicated PostgreSQL database (its schema is reset)"
    )
    parser.add_argument("--keep", help="instance folder to use and keep (default: a temp dir)")
    parser.add_argument(
        "--corpus-cache", default=str(Path(tempfile.gettempdir()) / "sanity-scale-corpus")
    )
    parser.add_argument(
        "--serve-only", action="store_true",
        help="measure requests and memory on the --keep instance of an earlier run",
    )  # fmt: skip
    args = parser.parse_args()
    require_data()
    n = args.papers
    corpus = corpus_file(n, Path(args.corpus_cache))
    instance = Path(args.keep or tempfile.mkdtemp(prefix="sanity-scale-"))
    env = fresh_env(instance, args.database_url)
    where = "PostgreSQL" if args.database_url else "SQLite"
    print(f"{n:,} papers on {where}; instance {instance}; load {os.getloadavg()[0]:.2f}")
    if args.serve_only:
        if not args.keep:
            raise SystemExit("--serve-only needs --keep INSTANCE")
        report_serving(env, corpus, n, instance, args.database_url)
        return 0
    shutil.rmtree(instance, ignore_errors=True)
    instance.mkdir(parents=True)
    if args.database_url:
        reset_postgres(args.database_url)
    subprocess.run([SANITY, "db", "upgrade"], env=env, check=True, capture_output=True)

    wall, peak, out = run_polled([SANITY, "import", str(corpus)], env)
    rows_s = float(re.search(r"lines in ([\d.]+)s", out).group(1))
    row("sanity import: rows + search index", f"{rows_s:.0f} s", None, n)
    row("  papers/s", f"{n / rows_s:,.0f}", "import_rate", n, n / rows_s)
    row("sanity import until every paper is rankable", f"{wall:.0f} s", None, n)
    row("  papers/s (start-up and first build included)", f"{n / wall:,.0f}", "rankable_rate", n,
        n / wall)  # fmt: skip
    row("  peak memory, whole process tree", f"{peak:,.0f} MB", "import_peak", n, peak)
    print(f"  load {os.getloadavg()[0]:.2f}", flush=True)

    wall, peak, _ = run_polled([SANITY, "compute"], env)
    row("full sanity compute", f"{wall:.0f} s", "compute_s", n, wall)
    row("  peak memory, whole process tree", f"{peak:,.0f} MB", "compute_peak", n, peak)
    print(f"  load {os.getloadavg()[0]:.2f}", flush=True)

    report_serving(env, corpus, n, instance, args.database_url)
    if not args.keep:
        shutil.rmtree(instance, ignore_errors=True)
    return 0


def report_serving(env: dict[str, str], corpus: Path, n: int, instance: Path, url) -> None:
    """The rows measured through `sanity serve`, and the disk."""
    got = serve_and_measure(env, corpus, n)
    row(f"search p50 ({len(QUERIES)} common queries)", f"{got['search_p50']:.1f} ms",
        "search_p50", n, got["search_p50"])  # fmt: skip
    row("search max", f"{got['search_max']:.1f} ms", "search_max", n, got["search_max"])
    row("similar p50", f"{got['similar_p50']:.1f} ms", "similar_p50", n, got["similar_p50"])
    row("recommend (20 seeds) p50", f"{got['recommend_p50']:.1f} ms", "recommend_p50", n,
        got["recommend_p50"])  # fmt: skip
    row("newest list p50", f"{got['newest_p50']:.1f} ms", "newest_p50", n, got["newest_p50"])
    row("serving process: anonymous memory", f"{got['serve_anon']:,.0f} MB", "serve_anon", n,
        got["serve_anon"])  # fmt: skip
    row("  file-backed (mapped features, libraries)", f"{got['serve_file']:,.0f} MB", None, n)
    row("  RSS in all", f"{got['serve_rss']:,.0f} MB", None, n)
    for name, size in disk(instance, url).items():
        row(f"disk: {name}", f"{size:,.0f} MB", None, n)
    print(f"load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    sys.exit(main())
