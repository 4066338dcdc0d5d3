"""Web benchmark: page render times through the WSGI app at 100,000 real papers.

Run: .venv/bin/python bench/web.py [--papers 100000] [--requests 40]
Loads the shared arXiv metadata into a fresh SQLite database (dates shifted so the newest paper
is from yesterday), builds the features, logs a user in and times full requests (routing,
queries, ranking, templates) with Flask's test client. Prints median and 95th percentile next to
the targets; asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import fill, load_records, make_app, require_data, stats, when

TARGETS_MS = {"home": 50, "search": 50, "paper": 50, "recommendations": 200}


def shift_dates(records: list[dict]) -> None:
    """Move every date so the newest paper was published 20 hours ago (windows have papers)."""
    newest = max(when(r) for r in records)
    delta = datetime.now(UTC) - timedelta(hours=20) - newest
    for r in records:
        r["published"] = (when(r) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def log_in(client, name: str, password: str) -> None:
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        r'name="csrf-token" content="([^"]+)"', page
    )
    data = {"csrf_token": token.group(1), "username": name, "password": password}
    response = client.post("/login", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


def make_tags(app, records: list[dict], n: int, rng: random.Random) -> list[str]:
    """A user with n tags of 20 papers, each tag from one big category: distinct models."""
    from sanity.accounts import tags
    from sanity.accounts import users as accounts

    by_cat: dict[str, list[str]] = {}
    for r in records:
        if r.get("categories"):
            by_cat.setdefault(r["categories"][0], []).append(r["id"])
    big = [c for c, ids in by_cat.items() if len(ids) >= 60]
    with app.app_context():
        user = accounts.create_user("bench", "bench password")
        names = []
        for i in range(n):
            name = f"t{i}"
            for pid in rng.sample(by_cat[rng.choice(big)], 20):
                tags.add_paper(user, name, pid)
            names.append(name)
    return names


def timed(client, urls: list[str]) -> list[float]:
    times = []
    for url in urls:
        started = time.perf_counter()
        response = client.get(url)
        response.get_data()
        times.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise SystemExit(f"{url}: {response.status_code}")
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    require_data()
    rng = random.Random(11)
    records = load_records(args.papers)
    shift_dates(records)
    with tempfile.TemporaryDirectory(prefix="sanity-web-") as tmp:
        app = make_app(Path(tmp), FEATURES_IN_CHILD=False, RATELIMIT_ENABLED=False)
        fill(app, records)
        n = args.requests
        names = make_tags(app, records, n, rng)
        words = [w for r in rng.sample(records, 400) for w in r["title"].split() if len(w) > 5]
        cats = ["cs.LG", "cs.CV", "cs.CL", "math.PR", "hep-th", "astro-ph.GA"]
        pages = {
            "home": ["/"] * n,
            "home, page 3": ["/?page=3"] * n,
            "home, week + category": [f"/?days=7&category={rng.choice(cats)}" for _ in range(n)],
            "home, latest day": ["/?days=latest"] * n,
            "search": [f"/?q={rng.choice(words)}+{rng.choice(words)}" for _ in range(n)],
            "paper": [f"/paper/{r['id']}" for r in rng.sample(records, n)],
            "similar list": [f"/?rank=similar&pid={r['id']}" for r in rng.sample(records, n)],
            "recommendations": [f"/?rank=tags&tags={name}" for name in names],
            "recommendations, cached": [f"/?rank=tags&tags={names[0]}"] * n,
            "stats": ["/stats"] * max(5, n // 4),
        }
        with app.test_client() as client:
            log_in(client, "bench", "bench password")
            timed(client, ["/", "/?q=model", f"/paper/{records[0]['id']}"])  # warm: features
            print(f"\n{len(records):,} papers, {n} requests per page, logged in\n")
            print(f"{'page':<26}{'median ms':>10}{'p95 ms':>10}{'target':>10}")
            for name, urls in pages.items():
                median, p95 = stats(timed(client, urls))
                target = TARGETS_MS.get(name)
                mark = "" if target is None else ("  ok" if median < target else "  SLOW")
                shown = f"< {target}" if target else ""
                print(f"{name:<26}{median:>10.1f}{p95:>10.1f}{shown:>10}{mark}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
