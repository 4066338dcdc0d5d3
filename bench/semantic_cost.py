"""Cost of the semantic layer per request, through the JSON API, with the layer on and off.

Run: .venv/bin/python bench/semantic_cost.py --model MODEL_DIR [--papers 100000]
     [--embeddings emb.npy --embedded-papers 50000] [--requests 20] [--scale 1000000]

Real papers are inserted and their features built as in bench/engine.py. Their embeddings come
from `--embeddings` (bench/quality.py's `--semantic-cache` of its first `--embedded-papers`
records) where a paper is there, else a random unit vector: cost does not depend on what the
vectors say. `--scale N` also times the part of a request that grows with the corpus (one
pass over every embedding: float16, and the float32 copy the layer ranks from) at N rows.
Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import numpy as np
from common import fill, load_records, make_app, require_data, stats

from sanity.engine import embedding_store, hybrid
from sanity.engine.semantic import model_fingerprint


def vectors_for(records: list[dict], cache: str | None, cached_papers: int, dim: int):
    rng = np.random.default_rng(3)
    known: dict[str, np.ndarray] = {}
    if cache:
        E = np.load(cache)
        ids = [r["id"] for r in load_records(cached_papers, seed=5)][: len(E)]
        known = dict(zip(ids, E, strict=False))
    out = rng.standard_normal((len(records), dim)).astype(np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    out = out.astype(np.float16)
    hits = 0
    for row, r in enumerate(records):
        if r["id"] in known:
            out[row] = known[r["id"]]
            hits += 1
    return out, hits


def publish(app, model_dir: str, records: list[dict], cache, cached_papers: int) -> None:
    from sanity.db import db
    from sanity.models import Paper

    with app.app_context():
        updated = dict(db.session.query(Paper.id, Paper.updated))
        ids = [r["id"] for r in records if r["id"] in updated]
        chosen = [r for r in records if r["id"] in updated]
        vectors, hits = vectors_for(chosen, cache, cached_papers, 384)
        stamps = np.array([int(updated[i].timestamp()) for i in ids], dtype=np.int64)
        model = model_fingerprint(Path(model_dir))
        build_id = "1" + time.strftime("%Y%m%d%H%M%S")
        emb = embedding_store.Embeddings(build_id, model, ids, stamps, vectors)
        embedding_store.save(emb, app.config["DATA_DIR"])
    print(f"embeddings: {len(ids):,} papers ({hits:,} real, the rest random unit vectors)")


def measure(client, urls: dict[str, list[str]]) -> dict[str, tuple[float, float]]:
    out = {}
    for name, batch in urls.items():
        client.get(batch[0])  # warm: load the builds and the model
        times = []
        for url in batch:
            t = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - t)
            assert response.status_code == 200, (url, response.status_code, response.data[:300])
        out[name] = stats(times)
    return out


def main() -> None:
    require_data()
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--papers", type=int, default=100_000)
    parser.add_argument("--embeddings", help="bench/quality.py's --semantic-cache file")
    parser.add_argument("--embedded-papers", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--scale", type=int, default=1_000_000)
    args = parser.parse_args()
    rng = random.Random(11)
    records = load_records(args.papers, seed=11)
    instance = Path(tempfile.mkdtemp(prefix="sanity-semcost-"))
    app = make_app(instance, SEMANTIC_MODEL=args.model, RATELIMIT_ENABLED=False)
    fill(app, records)
    publish(app, args.model, records, args.embeddings, args.embedded_papers)

    by_cat: dict[str, list[str]] = {}
    for r in records:
        by_cat.setdefault((r.get("categories") or ["-"])[0], []).append(r["id"])
    big = [c for c, ids in by_cat.items() if len(ids) >= 40]
    groups = [rng.sample(by_cat[rng.choice(big)], 20) for _ in range(args.requests)]
    seeds = [r["id"] for r in rng.sample(records, args.requests)]
    words = [r["title"] for r in rng.sample(records, args.requests)]
    urls = {
        "recommend (20 seeds)": [f"/api/recommend?ids={','.join(g)}" for g in groups],
        "similar": [f"/api/papers/{pid}/similar" for pid in seeds],
    }
    semantic = {"search by meaning (a title)": [f"/api/search?q={quote(q)}&mode=semantic"
                                                 for q in words]}  # fmt: skip
    print(f"\n{len(records):,} papers; ms p50 / p95 through the API (Flask test client)")
    on = measure(app.test_client(), {**urls, **semantic})
    app.config["SEMANTIC_MODEL"] = ""
    off = measure(app.test_client(), urls)
    for name in on:
        was = f"{off[name][0]:.0f} / {off[name][1]:.0f}" if name in off else "-"
        print(f"  {name:<30} layer on {on[name][0]:6.0f} / {on[name][1]:4.0f}   off {was}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak memory of this process {peak:,.0f} MB")

    E = np.random.default_rng(0).standard_normal((args.scale, 384)).astype(np.float16)
    v = np.random.default_rng(1).standard_normal(384).astype(np.float32)
    copy = instance / "scoring.npy"
    np.save(copy, E.astype(np.float32))
    for name, array in (
        ("float16", E),
        ("float32 copy, memory-mapped", np.load(copy, mmap_mode="r")),
    ):
        times = []
        for _ in range(5):
            t = time.perf_counter()
            hybrid.project(array, v)
            times.append(time.perf_counter() - t)
        print(f"at {args.scale:,} papers: one pass over every embedding ({name}) "
              f"{stats(times)[0]:.0f} ms; {array.nbytes / 2**20:,.0f} MB")  # fmt: skip
    copy.unlink()


if __name__ == "__main__":
    main()
