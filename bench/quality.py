"""Recommendation and similar-paper quality on proxy tasks from real arXiv metadata.

A simulated user tags k papers of a narrow category, a few papers of one author, or papers
whose title has one topic phrase; we measure precision@25 and nDCG@25 of the ranking among the
untagged papers. The same for "similar papers" of one seed. Ours (bounded-vocabulary TF-IDF,
SVM on positives + sampled negatives; cosine for similar) runs against the classic method
(arxiv-sanity-lite's TF-IDF parameters, LinearSVC C=0.01 on all papers) in the same run.

Run: .venv/bin/python bench/quality.py [--papers 50000] [--trials 8]
Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import time
from collections import defaultdict

import numpy as np
from classic import classic_features, classic_svm_scores
from common import load_records, require_data

from sanity.engine import features, ranking
from sanity.engine.features import Doc, Params

K = 25
PHRASES = [
    "graph neural network", "diffusion model", "reinforcement learning", "language model",
    "point cloud", "knowledge distillation", "federated learning", "navier-stokes",
    "object detection", "quantum", "speech", "autonomous driving", "medical image",
    "neural radiance", "contrastive learning", "time series",
]  # fmt: skip


def metrics(ranked: np.ndarray, relevant: set[int]) -> tuple[float, float]:
    """precision@K and nDCG@K for binary relevance."""
    hits = [1.0 if r in relevant else 0.0 for r in ranked[:K]]
    precision = sum(hits) / K
    dcg = sum(h / np.log2(i + 2) for i, h in enumerate(hits))
    ideal = sum(1 / np.log2(i + 2) for i in range(min(K, len(relevant))))
    return precision, dcg / ideal if ideal else 0.0


def make_tasks(records: list[dict], rng: random.Random, trials: int) -> list[dict]:
    """(kind, positives, relevant) tasks from categories, authors and title phrases."""
    by_cat, by_author, by_phrase = defaultdict(list), defaultdict(list), defaultdict(list)
    for row, r in enumerate(records):
        if r.get("categories"):
            by_cat[r["categories"][0]].append(row)
        for name in r.get("authors") or []:
            by_author[name].append(row)
        title = r["title"].lower()
        for phrase in PHRASES:
            if phrase in title:
                by_phrase[phrase].append(row)
    tasks = []
    narrow = sorted(c for c, rows in by_cat.items() if 150 <= len(rows) <= 3000)
    for cat in rng.sample(narrow, min(trials, len(narrow))):
        rows = by_cat[cat]
        tasks.append(_task("category", rng, rows, 10, cat))
    prolific = sorted(a for a, rows in by_author.items() if 8 <= len(rows) <= 200)
    for author in rng.sample(prolific, min(trials, len(prolific))):
        tasks.append(_task("author", rng, by_author[author], 3, author))
    common = sorted(p for p, rows in by_phrase.items() if len(rows) >= 40)
    for phrase in rng.sample(common, min(trials, len(common))):
        tasks.append(_task("phrase", rng, by_phrase[phrase], 5, phrase))
    return tasks


def _task(kind, rng, rows, k, label) -> dict:
    positives = rng.sample(rows, k)
    return {"kind": kind, "label": label, "pos": positives, "rel": set(rows) - set(positives)}


def rank_ours(X, positives, C, n_sampled) -> np.ndarray:
    allowed = np.ones(X.shape[0], dtype=bool)
    allowed[positives] = False
    got = ranking.svm(X, np.array(positives), None, k=K, C=C, n_sampled=n_sampled,
                      allowed=allowed)  # fmt: skip
    return got.rows


def rank_classic(X, positives) -> np.ndarray:
    scores = classic_svm_scores(X, positives)
    scores[positives] = -np.inf
    return np.argsort(-scores)[:K]


def similar_tasks(records, rng, trials) -> list[dict]:
    by_cat = defaultdict(list)
    for row, r in enumerate(records):
        if r.get("categories"):
            by_cat[r["categories"][0]].append(row)
    narrow = [c for c, rows in by_cat.items() if 150 <= len(rows) <= 3000]
    seeds = []
    for _ in range(trials * 3):
        cat = rng.choice(narrow)
        seed = rng.choice(by_cat[cat])
        seeds.append({"kind": "similar", "pos": [seed], "rel": set(by_cat[cat]) - {seed}})
    return seeds


def report(name: str, results: dict[str, list[tuple[float, float]]]) -> dict[str, float]:
    line, summary = [f"{name:34s}"], {}
    for kind, values in results.items():
        p = 100 * np.mean([v[0] for v in values])
        n = 100 * np.mean([v[1] for v in values])
        summary[kind] = n
        line.append(f"{kind} P@25 {p:5.1f} nDCG {n:5.1f}")
    print(" | ".join(line))
    return summary


def evaluate(tasks, rank) -> dict[str, list[tuple[float, float]]]:
    results = defaultdict(list)
    for task in tasks:
        results[task["kind"]].append(metrics(rank(task["pos"]), task["rel"]))
    return results


def main() -> None:
    require_data()
    parser = argparse.ArgumentParser()
    parser.add_argument("--papers", type=int, default=50_000)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--C", type=float, nargs="+", default=[0.03, 0.1, 0.3, 1.0])
    parser.add_argument("--sampled", type=int, nargs="+", default=[2000, 3000, 5000, 10000])
    args = parser.parse_args()
    rng = random.Random(5)
    records = load_records(args.papers, seed=5)
    texts = [
        features.paper_text(r["title"], r["abstract"], r.get("authors") or []) for r in records
    ]
    docs = [
        Doc(r["id"], t, 0, 0, " ".join(r.get("categories") or []))
        for r, t in zip(records, texts, strict=True)
    ]

    started = time.monotonic()
    ours = features.build(lambda: iter(docs), Params())
    took = time.monotonic() - started
    print(f"ours: {ours.n:,} papers x {len(ours.vocabulary):,} terms in {took:.1f}s")
    started = time.monotonic()
    X_classic = classic_features(texts)
    took = time.monotonic() - started
    print(f"classic: {X_classic.shape[0]:,} x {X_classic.shape[1]:,} terms in {took:.1f}s")

    tasks = make_tasks(records, rng, args.trials)
    print(f"\nrecommendation tasks: {len(tasks)} ({args.trials} per kind, k tagged papers each)")
    classic = report(
        "classic (lite: SVM C=0.01, all)", evaluate(tasks, lambda p: rank_classic(X_classic, p))
    )
    report("ours features, SVM on all (C=0.01)", evaluate(tasks, lambda p: rank_classic(ours.X, p)))
    best = None
    for C, n_sampled in [(C, n) for C in args.C for n in args.sampled]:
        name = f"ours SVM C={C} sampled={n_sampled}"
        got = report(name, evaluate(tasks, lambda p, C=C, n=n_sampled: rank_ours(ours.X, p, C, n)))
        worst = min(got[k] - classic[k] for k in classic)
        if best is None or worst > best[0]:
            best = (worst, name)
    print(f"best setting by worst-case nDCG gap to classic: {best[1]} "
          f"(worst gap {best[0]:+.1f} points)")  # fmt: skip

    sims = similar_tasks(records, rng, args.trials)
    print(f"\nsimilar-paper tasks: {len(sims)} seeds, relevant = same primary category")
    report(
        "classic (lite: exemplar SVM, all)", evaluate(sims, lambda p: rank_classic(X_classic, p))
    )

    def cosine(p):
        return ranking.cosine(ours.X, ours.X[p[0]], K, _without(ours.n, p)).rows

    def exemplar(p):
        return ranking.exemplar_svm(ours.X, p[0], K, allowed=_without(ours.n, p)).rows

    report("ours cosine", evaluate(sims, cosine))
    report("ours exemplar SVM (C=0.01)", evaluate(sims, exemplar))


def _without(n: int, rows: list[int]) -> np.ndarray:
    allowed = np.ones(n, dtype=bool)
    allowed[rows] = False
    return allowed


if __name__ == "__main__":
    main()
