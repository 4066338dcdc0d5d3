"""Authors as features: name normalisation, the bounded author vocabulary, the weighted block
beside the words, fresh rows, storage, explanations, and a quality guard on a synthetic corpus."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sanity.engine import classifier, feature_build, features, ranking, store
from sanity.engine.authors import NameCounter, display, name_key
from sanity.engine.features import Doc, Params

WEIGHTED = Params(author_weight=0.5)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("C. Bal\\'azs", "c balazs"),
        ("C. Balázs", "c balazs"),
        ('{\\"O}zg{\\"u}r \\c{C}elik', "ozgur celik"),
        ("Ji\\v{r}\\'i Mat\\'ou\\v sek", "jiri matousek"),
        ("Pawe{\\l} Nowak", "pawel nowak"),
        ("Łukasz Kowalski", "lukasz kowalski"),  # capital letters NFKD does not decompose
        ("Andreas Østvik", "andreas ostvik"),
        ("J. E. Guðmundsson", "j e gudmundsson"),
        ("John Smith Jr.", "john smith"),
        ("Martin Luther King, III", "martin luther king"),
        ("Smith, John", "john smith"),
        ("C.-P. Yuan", "c p yuan"),
        ("Stephen O'Brien", "stephen obrien"),
        ("  YANN   LeCun ", "yann lecun"),
        ("", None),
    ],
)
def test_name_keys_normalise_case_accents_punctuation_and_suffixes(raw, key):
    """Spellings of one name meet on one key; first names stay as written."""
    assert name_key(raw) == key


def test_display_turns_latex_into_unicode():
    """Explanations show names as people write them."""
    assert display("C. Bal\\'azs") == "C. Balázs"
    assert display("\\c{C}elik") == "Çelik"


def counter_of(papers: list[list[str]]) -> NameCounter:
    names = NameCounter(1000)
    for authors in papers:
        names.add(authors)
    return names


def test_an_initial_joins_the_only_full_name_that_fits():
    """'Y. LeCun' joins 'Yann LeCun'; 'J. Smith' stays apart when John and Jane both exist."""
    papers = [["Yann LeCun"], ["Y. LeCun"], ["John Smith"], ["Jane Smith"], ["J. Smith"]] * 2
    vocab, _ = counter_of(papers).vocabulary(min_df=1, max_features=100, weight=1.0)
    assert vocab.aliases == {"y lecun": "yann lecun"}
    assert vocab.columns(["Y. LeCun"]) == vocab.columns(["Yann LeCun"])
    assert {"john smith", "jane smith", "j smith"} <= set(vocab.keys)
    assert vocab.columns(["John Smith"]) != vocab.columns(["Jane Smith"])


def test_author_vocabulary_keeps_names_of_at_least_min_df_papers():
    """Names seen once are left out (the bound on the vocabulary); max_features caps it."""
    papers = [[f"Often Author{i % 5}", f"Once Author{i}"] for i in range(300)]
    vocab, _ = counter_of(papers).vocabulary(min_df=2, max_features=100, weight=1.0)
    assert vocab.keys == sorted(f"often author{i}" for i in range(5))
    capped, _ = counter_of(papers).vocabulary(min_df=2, max_features=3, weight=1.0)
    assert len(capped) == 3


def corpus(n_per: int = 12) -> list[Doc]:
    """Four groups: two on graphs, two on robots; each group its own authors. The texts do not
    name the authors, so only the author block can tell same-topic groups apart."""
    groups = {
        "graphs-a": ("graph neural networks message passing", ["Ana Lima", "Bo Chen"]),
        "graphs-b": ("graph neural networks message passing", ["Carl Ode", "Dana Fox"]),
        "robots-a": ("robot grasping policy manipulation", ["Eve Ng", "Fu Wei"]),
        "robots-b": ("robot grasping policy manipulation", ["Gil Roy", "Hana Sato"]),
    }
    docs = []
    for g, (name, (topic, people)) in enumerate(groups.items()):
        for i in range(n_per):
            text = f"{topic} study"
            authors = [people[i % 2], f"Student {name} {i}"] if i % 3 else people
            docs.append(Doc(f"2601.{g:01d}{i:04d}", text, i, i, name.split("-")[0], authors))
    return docs


def test_author_block_sits_beside_the_words():
    """Author columns follow the word columns, rows are unit length, names read as authors."""
    docs = corpus()
    built = feature_build.build(lambda: iter(docs), WEIGHTED)
    assert len(built.authors) >= 8
    assert built.X.shape == (len(docs), len(built.vocabulary) + len(built.authors))
    norms = np.sqrt(built.X.multiply(built.X).sum(axis=1)).A.ravel()
    assert np.allclose(norms, 1.0, atol=1e-5)
    assert "author: Ana Lima" in built.terms
    plain = feature_build.build(lambda: iter(docs), Params())
    assert len(plain.authors) == 0 and plain.X.shape[1] == len(plain.vocabulary)


def test_quality_guard_tagging_a_group_finds_that_group():
    """Three papers of one group bring its other papers first, not the same-topic group's."""
    docs = corpus()
    built = feature_build.build(lambda: iter(docs), WEIGHTED)
    rows = {name: [i for i, d in enumerate(docs) if d.id[5] == str(g)] for g, name in
            enumerate(["graphs-a", "graphs-b", "robots-a", "robots-b"])}  # fmt: skip
    positives = np.array(rows["graphs-a"][:3])
    allowed = np.ones(built.n, dtype=bool)
    allowed[positives] = False
    got = classifier.svm(built.X, positives, None, k=9, C=0.1, n_sampled=100, allowed=allowed,
                      vocabulary=built.terms)  # fmt: skip
    assert set(got.rows) <= set(rows["graphs-a"]), "the author signal is lost"
    assert any(w.startswith("author: ") and x > 0 for w, x in got.words)
    similar = ranking.cosine(built.X, built.X[rows["robots-b"][0]], 5, allowed)
    assert set(similar.rows) <= set(rows["robots-b"])


def test_fresh_rows_count_known_authors_at_once():
    """A new paper by a known author gets its author column; an unknown one counts at refit."""
    docs = corpus()
    base = feature_build.build(lambda: iter(docs), WEIGHTED)
    known = Doc("2602.00001", "graph neural networks", 99, 99, "graphs", ["Bal\\'azs X", "Bo Chen"])
    grown = features.with_rows(base, [known])
    row = grown.X[grown.index["2602.00001"]]
    offset = len(base.vocabulary)
    author_cols = [base.terms[c] for c in row.indices if c >= offset]
    assert author_cols == ["author: Bo Chen"]
    assert grown.authors is base.authors


def test_authors_survive_save_and_load(tmp_path):
    """The author vocabulary is part of the build on disk; an older build asks for a refit."""
    built = feature_build.build(lambda: iter(corpus()), WEIGHTED)
    store.save(built, tmp_path)
    loaded = store.load(tmp_path)
    assert loaded.terms == built.terms and loaded.authors.aliases == built.authors.aliases
    assert np.array_equal(loaded.authors.idf, built.authors.idf)
    assert loaded.params == WEIGHTED
    assert (loaded.X != built.X).nnz == 0


def test_a_build_from_before_author_features_is_refit(tmp_path):
    """A saved build without an author vocabulary loads with author weight 0, so the update
    sees its parameters differ from the configuration and refits."""
    built = feature_build.build(lambda: iter(corpus()), Params())
    path = store.save(built, tmp_path)
    meta = json.loads((path / "meta.json").read_text())
    del meta["authors"], meta["params"]["author_weight"]
    (path / "meta.json").write_text(json.dumps(meta))
    loaded = store.load(tmp_path)
    assert loaded.params.author_weight == 0.0 and len(loaded.authors) == 0
    assert loaded.params != WEIGHTED
