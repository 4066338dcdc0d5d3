"""Recommendation and similar-paper quality on proxy tasks from real arXiv metadata.

Simulated users, each scored on the top 25 among untagged papers ("found" = hits / min(25,
relevant papers), i.e. precision@25 when there are many relevant papers, recall when few):
- category: tags 10 papers of a narrow primary category; relevant: the category's other papers.
  `listed`: the same users, relevant: every other paper listing the category, primary or
  cross-list (as arXiv's listing of the category and `category=` filters show them).
- author: tags 3 papers of one author (8-200 papers); relevant: the author's other papers.
- phrase: tags 5 papers whose title has one topic phrase; relevant: the phrase's other papers.
- mixed: tags 5 + 5 papers of two narrow categories of unrelated archives; score: the smaller
  of the two topics' hits over 12.5 (1.0: both topics fill half of the top 25 each).
- negatives: tags 10 papers of category A, is shown the top 25 and marks the papers of
  category B in it "not interested", B being the primary category most often cross-listed with
  A (its papers not listing A); score: A's share of the new top 25; `negB` is B's share (lower
  is better), `B-bef` B's share in the top 25 before the negatives.
- similar: one seed paper with prolific authors; `sim-auth`: found among papers sharing an
  author with it, `sim-cat`: share of its primary category in the top 25.
Methods, in one run: classic (arxiv-sanity-lite: its TF-IDF, LinearSVC C=0.01 on all papers,
exemplar SVM for similar), today (words only: SVM on positives + negatives + 3,000 sampled,
cosine for similar), and words + an author block at several weights and C (the recommend path:
`classifier.svm` and `ranking.similar` as `sanity.engine.serving` calls them: words' cosine +
`sa` x shared authors' cosine + `sc` for the same primary category). ms = median per
request (training + scoring).

With `--semantic MODEL_DIR` (a sentence-transformers model directory, e.g. all-MiniLM-L6-v2,
and the `semantic` extra installed) the papers' title + abstract are embedded once (kept in
`--semantic-cache`, resumable) and the hybrid methods of the semantic layer are scored too:
`hybrid.svm` / `hybrid.similar` on words + authors + SEMANTIC_WEIGHT x embedding, as
`sanity.engine.serving` calls them with the layer on, and the embedding alone.

The semantic rows can also vary the sampled negatives (`--semantic-negatives`) and leave
out the engine's lighter weight of meaning for one author's papers (`--semantic-adapt
no|both`); their similar columns use `--semantic-similar-weights` (SEMANTIC_SIMILAR_WEIGHT).
`--semantic-text-weights` scores pasted text (`POST /api/similar`, SEMANTIC_TEXT_WEIGHT): 10 x
`--trials` papers' title + abstract, or title alone, as the text, the paper itself left out;
the share of the top 25 in its primary category, and listing it (no weights: skipped).
`--pool N --slice K` scores the K-th run of `--papers` papers of an N-paper sample, so that
several small corpora share one embedding cache.

Run: .venv/bin/python bench/quality.py [--papers 50000] [--trials 20] [--seed 5] [--task-seed 6]
     [--skip-classic]
     [--semantic MODEL_DIR --semantic-weights 0.5 1 2 --semantic-cache emb.npy]
     [--semantic-text-weights 0 0.05 0.5 1 2]
     [--papers 2200 --pool 22000 --slice 0]
Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter, defaultdict
from itertools import product

import numpy as np
from classic import classic_features, classic_svm_scores
from common import load_records, require_data

from sanity.engine import classifier, feature_build, features, hybrid, ranking, store
from sanity.engine.authors import NameCounter, combine
from sanity.engine.features import Doc, Params

K = 25
PHRASES = [
    "graph neural network", "diffusion model", "reinforcement learning", "language model",
    "point cloud", "knowledge distillation", "federated learning", "navier-stokes",
    "object detection", "quantum", "speech", "autonomous driving", "medical image",
    "neural radiance", "contrastive learning", "time series",
]  # fmt: skip
COLUMNS = [
    "category",
    "listed",
    "author",
    "phrase",
    "mixed",
    "negatives",
    "negB",
    "B-bef",
    "sim-auth",
    "sim-cat",
    "sim-lst",
    "sim-any",
]
LOWER_IS_BETTER = {"negB"}
SAMPLED = 3000  # SVM_NEGATIVES


def found(ranked, relevant: set[int]) -> float:
    hits = sum(1 for r in ranked[:K] if r in relevant)
    return hits / min(K, len(relevant)) if relevant else 0.0


def share(ranked, relevant: set[int]) -> float:
    return sum(1 for r in ranked[:K] if r in relevant) / K


def archive(category: str) -> str:
    return category.split(".")[0]


class Corpus:
    """Rows grouped by primary category, author (as written) and title phrase."""

    def __init__(self, records: list[dict]) -> None:
        self.by_cat, self.by_author, self.by_phrase, self.listing = (
            defaultdict(list) for _ in range(4)
        )
        for row, r in enumerate(records):
            if r.get("categories"):
                self.by_cat[r["categories"][0]].append(row)
            for cat in dict.fromkeys(r.get("categories") or []):
                self.listing[cat].append(row)
            for name in dict.fromkeys(r.get("authors") or []):
                self.by_author[name].append(row)
            title = r["title"].lower()
            for phrase in PHRASES:
                if phrase in title:
                    self.by_phrase[phrase].append(row)
        self.records = records
        self.narrow = sorted(c for c, rows in self.by_cat.items() if 150 <= len(rows) <= 3000)
        # For the negatives task: per category, the other primary category most often
        # cross-listed with it (the topic a user is most likely to be shown and not want).
        together = Counter()
        for r in records:
            cats = r.get("categories") or []
            for other in cats[1:]:
                if other != cats[0]:
                    together[tuple(sorted((cats[0], other)))] += 1
        self.nearest = {}
        for (a, b), _ in together.most_common():
            for x, y in ((a, b), (b, a)):
                if x not in self.nearest and len(self.by_cat.get(y, ())) >= 100:
                    self.nearest[x] = y


def make_tasks(c: Corpus, rng: random.Random, trials: int) -> list[dict]:
    """Recommendation tasks: {kind, pos, neg, rel, other}."""
    tasks = []
    for cat in rng.sample(c.narrow, min(trials, len(c.narrow))):
        task = _task("category", rng, c.by_cat[cat], 10)
        tasks.append({**task, "listed": set(c.listing[cat]) - set(task["pos"])})
    prolific = sorted(a for a, rows in c.by_author.items() if 8 <= len(rows) <= 200)
    for author in rng.sample(prolific, min(trials, len(prolific))):
        tasks.append(_task("author", rng, c.by_author[author], 3))
    common = sorted(p for p, rows in c.by_phrase.items() if len(rows) >= 40)
    for phrase in rng.sample(common, min(trials, len(common))):
        tasks.append(_task("phrase", rng, c.by_phrase[phrase], 5))
    for _ in range(trials):
        a = rng.choice(c.narrow)
        b = rng.choice([x for x in c.narrow if archive(x) != archive(a)])
        pa, pb = rng.sample(c.by_cat[a], 5), rng.sample(c.by_cat[b], 5)
        rel_a, rel_b = set(c.by_cat[a]) - set(pa), set(c.by_cat[b]) - set(pb)
        tasks.append({"kind": "mixed", "pos": pa + pb, "neg": [], "rel": rel_a, "other": rel_b})
    pairs = [(a, c.nearest[a]) for a in c.narrow if a in c.nearest]
    for a, b in rng.sample(pairs, min(trials, len(pairs))):
        only_b = [row for row in c.by_cat[b] if a not in c.records[row]["categories"]]
        pos = rng.sample(c.by_cat[a], 10)
        rel, other = set(c.by_cat[a]) - set(pos), set(only_b)
        tasks.append({"kind": "negatives", "pos": pos, "neg": [], "rel": rel, "other": other})
    return tasks


def _task(kind, rng, rows, k) -> dict:
    pos = rng.sample(rows, k)
    return {"kind": kind, "pos": pos, "neg": [], "rel": set(rows) - set(pos), "other": set()}


def similar_tasks(c: Corpus, rng: random.Random, trials: int) -> list[dict]:
    """Seeds with an author of 3+ other papers, in a narrow category."""
    narrow = set(c.narrow)
    candidates = [
        row
        for row, r in enumerate(c.records)
        if r.get("categories") and r["categories"][0] in narrow
        and any(len(c.by_author[a]) >= 4 for a in r.get("authors") or [])
    ]  # fmt: skip
    out = []
    for seed in rng.sample(candidates, min(trials * 3, len(candidates))):
        r = c.records[seed]
        same_author = set().union(*(c.by_author[a] for a in r["authors"])) - {seed}
        cat = r["categories"][0]
        same_cat = set(c.by_cat[cat]) - {seed}
        listed = {i for i, x in enumerate(c.records) if cat in (x.get("categories") or [])}
        out.append({"kind": "similar", "pos": [seed], "rel": same_author, "other": same_cat,
                    "listed": listed - {seed}})  # fmt: skip
    return out


def score_task(task: dict, ranked) -> dict[str, float]:
    kind = task["kind"]
    if kind == "mixed":
        a, b = share(ranked, task["rel"]), share(ranked, task["other"])
        return {"mixed": min(a, b) * 2}
    if kind == "negatives":
        return {"negatives": share(ranked, task["rel"]), "negB": share(ranked, task["other"])}
    if kind == "similar":
        either = task["rel"] | task["listed"]
        return {
            "sim-auth": found(ranked, task["rel"]),
            "sim-cat": share(ranked, task["other"]),
            "sim-lst": share(ranked, task["listed"]),
            "sim-any": share(ranked, either),
        }
    if kind == "category":
        return {kind: found(ranked, task["rel"]), "listed": found(ranked, task["listed"])}
    return {kind: found(ranked, task["rel"])}


class Method:
    """A named way to rank: recommend(pos, neg) and similar(seed) -> rows."""

    def __init__(self, name, recommend, similar) -> None:
        self.name, self.recommend, self.similar = name, recommend, similar

    def shown_and_refused(self, task: dict, values) -> dict:
        """The user sees this method's top 25 and marks B's papers in it "not interested"."""
        first = self.recommend(task["pos"], [])
        values["B-bef"].append(share(first, task["other"]))
        neg = [int(r) for r in first[:K] if r in task["other"]]
        return {**task, "neg": neg, "other": task["other"] - set(neg)}

    def run(self, tasks: list[dict], sims: list[dict]) -> dict[str, float]:
        values, times = defaultdict(list), []
        for task in tasks:
            if task["kind"] == "negatives":
                task = self.shown_and_refused(task, values)
            started = time.perf_counter()
            ranked = self.recommend(task["pos"], task["neg"])
            times.append(time.perf_counter() - started)
            for k, v in score_task(task, ranked).items():
                values[k].append(v)
        sim_times = []
        for task in sims:
            started = time.perf_counter()
            ranked = self.similar(task["pos"][0])
            sim_times.append(time.perf_counter() - started)
            for k, v in score_task(task, ranked).items():
                values[k].append(v)
        out = {k: float(np.mean(v)) for k, v in values.items()}
        out["ms"] = 1000 * float(np.median(times))
        out["sim ms"] = 1000 * float(np.median(sim_times))
        return out


def svm_method(name: str, X, C: float, similar_args: dict | None = None) -> Method:
    """`similar_args`: split, author weight and category bonus of `ranking.similar` (the
    similar-papers path of the engine); without them, plain cosine (today's)."""
    n = X.shape[0]
    if similar_args is not None:
        A = X[:, similar_args["split"] :]
        norms = np.sqrt(np.asarray(A.multiply(A).sum(axis=1)).ravel())

    def recommend(pos, neg):
        allowed = _without(n, pos + neg)
        got = classifier.svm(X, np.array(pos), np.array(neg, dtype=np.int64), k=K, C=C,
                          n_sampled=SAMPLED, allowed=allowed)  # fmt: skip
        return got.rows

    def similar(seed):
        allowed = _without(n, [seed])
        if similar_args is None:
            return ranking.cosine(X, X[seed], K, allowed).rows
        a = similar_args
        bonus = a["primary"](seed) if a["category"] else None
        return ranking.similar(X, X[seed], K, split=a["split"], allowed=allowed,
                               author_norms=norms, author_weight=a["author"],
                               bonus=bonus, bonus_weight=a["category"]).rows  # fmt: skip

    return Method(name, recommend, similar)


def primary_masks(records: list[dict]):
    """seed row -> a boolean mask of the rows with the seed's primary category."""
    firsts = np.array([(r.get("categories") or [""])[0] for r in records])

    def mask(seed: int) -> np.ndarray:
        return firsts == firsts[seed]

    return mask


def hybrid_method(
    name: str,
    X,
    E,
    weight: float,
    C: float,
    similar_args: dict,
    adapt: bool = True,
    sampled: int = SAMPLED,
    similar_weight: float | None = None,
) -> Method:
    """The semantic layer's recommend and similar paths (words + authors + weight x E); with
    `adapt`, meaning weighs less for tagged papers of one author (as the engine does)."""
    n = X.shape[0]
    rows = np.arange(n)
    split = similar_args["split"]
    A = X[:, split:]
    norms = np.sqrt(np.asarray(A.multiply(A).sum(axis=1)).ravel()) if A.shape[1] else None

    def recommend(pos, neg):
        got = hybrid.svm(X, E, rows, weight, np.array(pos), np.array(neg, dtype=np.int64), k=K,
                         C=C, n_sampled=sampled, allowed=_without(n, pos + neg),
                         split=split if adapt else None)  # fmt: skip
        return got.rows

    def similar(seed):
        a = similar_args
        bonus = a["primary"](seed) if a["category"] else None
        scores = ranking.similar_scores(X, X[seed], split=split, author_norms=norms,
                                        author_weight=a["author"], bonus=bonus,
                                        bonus_weight=a["category"])  # fmt: skip
        sw = weight if similar_weight is None else similar_weight
        part = hybrid.meaning_part(E, rows, sw, E[seed])
        total = part if scores is None else scores + part
        return ranking.top_k(total, K, _without(n, [seed])).rows

    return Method(name, recommend, similar)


def pasted_text(words, E, E_titles, c: Corpus, seeds: list[int], weights: list[float]) -> None:
    """Prints, per weight of meaning, how much of the top 25 for a pasted text (a seed's title +
    abstract, or its title alone; the seed left out) is in the seed's primary category and
    lists it: `POST /api/similar` (words' cosine + weight x meaning's cosine; no authors)."""
    from sanity.engine.embeddings import paper_text

    firsts = np.array([(r.get("categories") or [""])[0] for r in c.records])
    got = defaultdict(list)
    for j, seed in enumerate(seeds):
        r = c.records[seed]
        cat = r["categories"][0]
        listing = np.zeros(len(firsts), dtype=bool)
        listing[c.listing[cat]] = True
        texts = {"abstract": (paper_text(r["title"], r["abstract"]), E[seed]),
                 "title": (" ".join(r["title"].split()), E_titles[j])}  # fmt: skip
        for kind, (text, vector) in texts.items():
            by_words = (words.X @ words.vectorize([text]).T).toarray().ravel()
            by_meaning = hybrid.project(E, vector)
            for w in weights:
                total = by_words + w * by_meaning
                total[seed] = -np.inf
                top = np.argpartition(-total, K)[:K]
                got[w, kind].append((np.mean(firsts[top] == cat), np.mean(listing[top])))
    print(
        f"\npasted text: {len(seeds)} papers' title + abstract, or title alone, as the text "
        "(the paper left out); % of the top 25 in its primary category / listing it"
    )
    print(f"{'SEMANTIC_TEXT_WEIGHT':22s}{'abstract':>16s}{'title':>16s}")
    for w in weights:
        cells = [np.mean(got[w, kind], axis=0) * 100 for kind in ("abstract", "title")]
        print(f"{w:<22g}" + "".join(f"{a:8.1f}{b:8.1f}" for a, b in cells), flush=True)


def classic_method(X) -> Method:
    def recommend(pos, neg):  # lite has no negatives: "not interested" is not a thing there
        scores = classic_svm_scores(X, pos)
        scores[pos + neg] = -np.inf
        return np.argsort(-scores)[:K]

    return Method("classic (lite)", recommend, lambda seed: recommend([seed], []))


def _without(n: int, rows: list[int]) -> np.ndarray:
    allowed = np.ones(n, dtype=bool)
    allowed[rows] = False
    return allowed


def print_row(name: str, got: dict[str, float]) -> None:
    cells = [f"{100 * got.get(k, float('nan')):6.1f}" for k in COLUMNS]
    print(f"{name:46s}" + "".join(cells) + f"{got['ms']:8.1f}{got['sim ms']:8.1f}", flush=True)


def header() -> None:
    names = [*COLUMNS, "ms", "sim ms"]
    print(f"{'method':46s}" + "".join(f"{n:>6s}" for n in names[:-2])
          + "".join(f"{n:>8s}" for n in names[-2:]))  # fmt: skip


def main() -> None:
    require_data()
    parser = argparse.ArgumentParser()
    parser.add_argument("--papers", type=int, default=50_000)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=5, help="which sample and tasks")
    parser.add_argument("--task-seed", type=int, help="other tasks on the same sample "
                        "(default: --seed)")  # fmt: skip
    parser.add_argument("--pool", type=int, help="sample this many papers, then use the "
                        "--papers of them from the --slice-th on (smaller corpora that share "
                        "one --semantic-cache of the pool)")  # fmt: skip
    parser.add_argument("--slice", type=int, default=0)
    parser.add_argument("--C", type=float, nargs="+", default=[0.1, 0.3])
    parser.add_argument("--weights", type=float, nargs="+", default=[0.4, 0.5, 0.6, 0.75])
    parser.add_argument("--min-df", type=int, default=2)
    parser.add_argument("--cache", help="keep the words-only build here between runs")
    parser.add_argument("--similar-authors", type=float, nargs="+", default=[0.2])
    parser.add_argument("--similar-categories", type=float, nargs="+", default=[0.02])
    parser.add_argument("--skip-classic", action="store_true")
    parser.add_argument("--semantic", metavar="MODEL_DIR", help="also score the semantic layer")
    parser.add_argument("--semantic-weights", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    parser.add_argument("--semantic-cache", help="keep the papers' embeddings here (.npy)")
    parser.add_argument("--semantic-author-weight", type=float, default=0.6)
    parser.add_argument("--semantic-similar-weights", type=float, nargs="+", default=[0.05])
    parser.add_argument("--semantic-text-weights", type=float, nargs="*",
                        default=[0, 0.05, 0.5, 1, 2],
                        help="pasted-text weights to score (none: skip)")  # fmt: skip
    parser.add_argument("--semantic-negatives", type=int, nargs="+", default=[SAMPLED])
    parser.add_argument(
        "--semantic-adapt",
        choices=["yes", "no", "both"],
        default="both",
        help="meaning weighs less for one author's papers (as the engine)",
    )
    parser.add_argument(
        "--author-words",
        choices=["yes", "no", "both"],
        default="yes",
        help="author names also in the words' text (as today)",
    )
    args = parser.parse_args()
    rng = random.Random(args.seed if args.task_seed is None else args.task_seed)
    pool = load_records(args.pool or args.papers, seed=args.seed)
    part = slice(args.slice * args.papers, (args.slice + 1) * args.papers)
    if args.slice < 0 or part.stop > len(pool):
        parser.error(f"--slice {args.slice} of --papers {args.papers} needs {part.stop:,} "
                     f"papers; the pool has {len(pool):,}")  # fmt: skip
    records = pool[part]
    texts = [
        features.paper_text(r["title"], r["abstract"], r.get("authors") or []) for r in records
    ]
    docs = [
        Doc(r["id"], t, 0, 0, " ".join(r.get("categories") or []), r.get("authors") or [])
        for r, t in zip(records, texts, strict=True)
    ]
    started = time.monotonic()
    words = store.load(args.cache) if args.cache and store.current_build_id(args.cache) else None
    if words is None or words.n != len(docs):
        words = feature_build.build(lambda: iter(docs), Params())
        if args.cache:
            store.save(words, args.cache)
    print(f"words: {words.n:,} papers x {len(words.vocabulary):,} terms "
          f"in {time.monotonic() - started:.1f}s")  # fmt: skip
    variants = {"yes": [("", words)]}
    if args.author_words != "yes":
        bare = [Doc(d.id, f"{r['title']}. {r['abstract']}", 0, 0, d.categories, d.authors)
                for d, r in zip(docs, records, strict=True)]  # fmt: skip
        without = feature_build.build(lambda: iter(bare), Params())
        variants = {"no": [(" -aw", without)], "both": [("", words), (" -aw", without)]}
    started = time.monotonic()
    names = NameCounter(10 * Params().author_max_features)
    for d in docs:
        names.add(d.authors)
    vocab, merged = names.vocabulary(args.min_df, Params().author_max_features, 1.0)
    block = vocab.block([d.authors for d in docs])
    singletons = sum(1 for c in merged.values() if c < args.min_df)
    print(f"authors: {len(vocab):,} names in >= {args.min_df} papers ({singletons:,} rarer left "
          f"out), {len(vocab.aliases):,} initial-only spellings joined, "
          f"{time.monotonic() - started:.1f}s")  # fmt: skip

    corpus = Corpus(records)
    tasks = make_tasks(corpus, rng, args.trials)
    sims = similar_tasks(corpus, rng, args.trials)
    kinds = defaultdict(int)
    for t in tasks + sims:
        kinds[t["kind"]] += 1
    print(f"tasks: {dict(kinds)}; numbers in %, higher is better except negB\n")
    header()
    primary = primary_masks(records)
    if not args.skip_classic:
        print_row("classic (lite)", classic_method(classic_features(texts)).run(tasks, sims))
    print_row("today (words, C=0.1)", svm_method("today", words.X, 0.1).run(tasks, sims))
    for suffix, built in variants[args.author_words]:
        for w in args.weights:
            X = combine(built.X, block, w)
            for C in args.C:
                for sa in args.similar_authors:
                    for sc in args.similar_categories:
                        similar_args = {"split": len(built.vocabulary), "author": sa,
                                        "category": sc, "primary": primary}  # fmt: skip
                        method = svm_method("new", X, C, similar_args)
                        got = method.run(tasks, sims)
                        print_row(f"w={w} C={C} sa={sa:g} sc={sc:g}{suffix}", got)
    if args.semantic:
        from semantic_cache import embed_records, embed_texts  # needs the `semantic` extra

        E = embed_records(args.semantic, pool, args.semantic_cache)[part]
        X = combine(words.X, block, args.semantic_author_weight)
        similar_args = {"split": len(words.vocabulary), "author": args.similar_authors[0],
                        "category": args.similar_categories[0], "primary": primary}  # fmt: skip
        alone = {**similar_args, "split": 0, "author": 0.0, "category": 0.0}
        only = hybrid_method("meaning only", words.X[:, :0], E, 1.0, 0.1, alone)
        print_row("embedding alone", only.run(tasks, sims))
        adapting = {"yes": [True], "no": [False], "both": [False, True]}[args.semantic_adapt]
        for sw in args.semantic_weights:
            for C in args.C:
                for sampled, adapt, ssw in product(args.semantic_negatives, adapting,
                                                   args.semantic_similar_weights):  # fmt: skip
                    method = hybrid_method("hybrid", X, E, sw, C, similar_args, adapt, sampled,
                                           ssw)  # fmt: skip
                    got = method.run(tasks, sims)
                    name = f"semantic w={sw:g} C={C} n={sampled} ssw={ssw:g}"
                    print_row(name + (" adapt" if adapt else ""), got)
        if args.semantic_text_weights:
            rows = [i for i, r in enumerate(records)
                    if r.get("categories") and len(r["abstract"]) >= 200]  # fmt: skip
            seeds = rng.sample(rows, min(10 * args.trials, len(rows)))
            titles = [" ".join(records[i]["title"].split()) for i in seeds]
            pasted_text(words, E, embed_texts(args.semantic, titles), corpus, seeds,
                        args.semantic_text_weights)  # fmt: skip


if __name__ == "__main__":
    main()
