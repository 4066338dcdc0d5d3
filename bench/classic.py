"""The classic arxiv-sanity-lite way, measured on the same database (our own implementation).

Builds TF-IDF with lite's parameters by one plain fit_transform over every paper, then per
request trains a LinearSVC (C=0.01, class-balanced, tol 1e-6) on all papers for "recommend"
and "similar", and scans every paper in Python for "search". Run as a child process of
bench/engine.py or bench/quality.py so its memory is measured on its own:

    python bench/classic.py DB_PATH SEEDS_JSON   ->  prints one JSON line of timings
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

LITE_PARAMS = dict(
    input="content",
    encoding="utf-8",
    decode_error="replace",
    strip_accents="unicode",
    lowercase=True,
    analyzer="word",
    stop_words="english",
    token_pattern=r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b",
    ngram_range=(1, 2),
    max_features=20000,
    norm="l2",
    use_idf=True,
    smooth_idf=True,
    sublinear_tf=True,
    max_df=0.1,
    min_df=5,
)


def classic_features(texts: list[str]):
    """lite's TF-IDF: one fit_transform holding every n-gram of the corpus at once."""
    return TfidfVectorizer(**LITE_PARAMS).fit_transform(texts)


def classic_svm_scores(X, positives: list[int], C: float = 0.01) -> np.ndarray:
    """lite's ranking: an SVM trained on every paper, positives against all the rest."""
    y = np.zeros(X.shape[0])
    y[positives] = 1
    model = LinearSVC(class_weight="balanced", C=C, tol=1e-6, max_iter=10000, dual="auto")
    model.fit(X, y)
    return X @ model.coef_.ravel()


def classic_search(papers: list[tuple[str, str, str]], query: str) -> list[int]:
    """A keyword search that scores every paper in Python (the per-request scan)."""
    terms = query.lower().split()
    scores = []
    for i, (title, abstract, authors) in enumerate(papers):
        t, a, au = title.lower(), abstract.lower(), authors.lower()
        score = sum(3.0 * (q in t) + 1.0 * (q in a) + 2.0 * (q in au) for q in terms)
        if score:
            scores.append((score, i))
    scores.sort(reverse=True)
    return [i for _, i in scores[:25]]


def main() -> None:
    db_path, seeds_path = sys.argv[1], sys.argv[2]
    seeds = json.loads(open(seeds_path).read())
    conn = sqlite3.connect(db_path)
    rows = conn.execute("SELECT id, title, abstract, authors FROM papers ORDER BY id").fetchall()
    ids = [r[0] for r in rows]
    index = {pid: i for i, pid in enumerate(ids)}
    papers = [(r[1], r[2], " ".join(json.loads(r[3]))) for r in rows]
    texts = [f"{t}. {a} {au}" for t, a, au in papers]
    started = time.monotonic()
    X = classic_features(texts)
    build = time.monotonic() - started
    out = {"build_s": build, "recommend": [], "similar": [], "search": []}
    for group in seeds["recommend"]:
        started = time.monotonic()
        np.argsort(-classic_svm_scores(X, [index[p] for p in group if p in index]))[:25]
        out["recommend"].append(time.monotonic() - started)
    for pid in seeds["similar"]:
        started = time.monotonic()
        np.argsort(-classic_svm_scores(X, [index[pid]]))[:25]
        out["similar"].append(time.monotonic() - started)
    for query in seeds["search"]:
        started = time.monotonic()
        classic_search(papers, query)
        out["search"].append(time.monotonic() - started)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
