"""Keyword search on SQLite FTS5 and PostgreSQL full text, through /api/search."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from sanity.db import db
from sanity.engine import pgsearch
from sanity.engine.search import rebuild_index
from sanity.ingest.upsert import upsert_papers
from sanity.query import QueryError, parse_query
from tests.factories import make_paper, make_record

pytestmark = pytest.mark.both_databases

HOSTILE = [
    "cs.LG", "C++", "self-supervised", "2401.01234", "arXiv:2401.01234v2", '"unbalanced',
    "NEAR", "*", "-", "NOT", "AND OR", "a:b", "title:x", "(", ")", "^", "'; DROP TABLE papers;--",
    "%", "_", "\\", "€∑ß", "x" * 999, "😀", "a NEAR/3 b", "{x}", "[y]", "col:umn", "\x00",
]  # fmt: skip


def test_parse_query_keeps_only_words_and_phrases():
    """Operators and punctuation never survive parsing; phrases and ids are recognised."""
    q = parse_query('"graph neural" NEAR self-supervised C++ * -')
    assert q.phrases == [["graph", "neural"], ["self", "supervised"]]
    assert q.words == ["near", "c"]
    assert parse_query("arXiv:2401.01234v2").paper_id == "2401.01234"
    assert parse_query("cs.LG").maybe_categories == ["cs.LG"]
    with pytest.raises(QueryError, match="required"):
        parse_query("   ")
    with pytest.raises(QueryError, match="too long"):
        parse_query("x" * 1001)


@pytest.mark.parametrize("q", HOSTILE)
def test_hostile_queries_never_error(client, q):
    """Every awkward query gives results or a clean 400, never a 500."""
    make_paper(title="Self-supervised C++ NEAR graphs", abstract="unbalanced transport")
    response = client.get("/api/search", query_string={"q": q})
    assert response.status_code in (200, 400), (q, response.get_data(as_text=True))
    body = response.get_json()
    assert ("papers" in body) if response.status_code == 200 else body["error"]


def test_empty_and_huge_queries_are_400(client):
    """An empty or 10,000-character query is a 400 naming q."""
    assert "q is required" in client.get("/api/search?q=").get_json()["error"]
    response = client.get("/api/search", query_string={"q": "word " * 2000})
    assert response.status_code == 400 and "too long" in response.get_json()["error"]


def search_ids(client, q, **params) -> list[str]:
    body = client.get("/api/search", query_string={"q": q, **params}).get_json()
    return [p["id"] for p in body["papers"]]


def test_title_matches_rank_above_abstract_matches(client):
    """A word in the title counts more than the same word in the abstract."""
    in_abstract = make_paper(title="A study", abstract="We use transformers for tables.").id
    in_title = make_paper(title="Transformers for tables", abstract="A study of tables.").id
    assert search_ids(client, "transformers")[:2] == [in_title, in_abstract]


def test_phrases_authors_and_stemming(client):
    """Quoted phrases need adjacency, authors are searchable, and word forms match."""
    adjacent = make_paper(title="Neural network pruning", authors=["Grace Hopper"]).id
    apart = make_paper(title="Network of neural pathways", authors=["Ada Lovelace"]).id
    assert search_ids(client, '"neural network"') == [adjacent]
    assert set(search_ids(client, "neural network")) == {adjacent, apart}
    assert search_ids(client, "Hopper") == [adjacent]
    assert search_ids(client, "pruned") == [adjacent]  # porter stemming on both databases


def test_arxiv_id_goes_straight_to_the_paper(client):
    """An id in any form returns that paper first."""
    target = make_paper(id="2401.01234", version=2, title="Something else").id
    make_paper(abstract="cites 2401.01234 in passing")
    for form in ("2401.01234", "2401.01234v1", "arXiv:2401.01234v2"):
        assert search_ids(client, form)[0] == target


def test_category_in_query_and_filters(client, clock):
    """cs.LG in the query filters by category; category= and days= filter too."""
    now = clock.now()
    lg = make_paper(title="Bandits", categories=["cs.LG"], when=now - timedelta(days=1)).id
    ro = make_paper(title="Bandits", categories=["cs.RO"], when=now - timedelta(days=20)).id
    assert search_ids(client, "cs.LG bandits") == [lg]
    assert search_ids(client, "cs.LG") == [lg]
    assert search_ids(client, "bandits", category="cs.RO") == [ro]
    assert search_ids(client, "bandits", days=7) == [lg]


def test_any_word_fallback_when_all_words_find_nothing(client):
    """If no paper has every word, papers with some of them are returned."""
    a = make_paper(title="Quantum annealing").id
    assert search_ids(client, "quantum zebra") == [a]


def test_new_and_replaced_papers_are_searchable_at_once(client):
    """The index follows inserts and in-place version updates in the same transaction."""
    record = make_paper(title="Original wording here")
    assert search_ids(client, "original") == [record.id]
    upsert_papers([make_record(id=record.id, version=2, title="Revised phrasing")])
    db.session.commit()
    assert search_ids(client, "original") == []
    assert search_ids(client, "revised") == [record.id]


def test_paging_and_total(client):
    """Results page like the other lists; total counts every match."""
    for i in range(30):
        make_paper(title=f"Kernel methods {i}")
    body = client.get("/api/search?q=kernel&per_page=10&page=3").get_json()
    assert body["total"] == 30 and body["page"] == 3 and len(body["papers"]) == 10
    assert all("score" in p for p in body["papers"])


def test_rebuild_index_keeps_results(client):
    """`sanity compute` rebuilds the index without changing what is found."""
    pid = make_paper(title="Spectral clustering").id
    rebuild_index()
    assert search_ids(client, "spectral") == [pid]


def test_a_very_common_query_ranks_its_most_recently_added_matches(client, monkeypatch):
    """Past RANKED_MATCHES matches, an unfiltered search ranks only the most recently added
    ones (bm25 or ts_rank over every match of a common word is what makes a large instance
    slow), and its total counts those (no page past them); fewer matches are all ranked; a
    filtered search ranks every match."""
    from sanity.engine import search as search_module

    best_but_oldest = make_paper(title="Kernel kernel", abstract="Kernel methods.").id
    newer = [make_paper(title=f"Study {i}", abstract=f"A kernel in part {i}.").id for i in range(4)]
    assert search_ids(client, "kernel")[0] == best_but_oldest
    monkeypatch.setattr(search_module, "RANKED_MATCHES", 3)
    body = client.get("/api/search?q=kernel").get_json()
    got = [p["id"] for p in body["papers"]]
    assert sorted(got) == sorted(newer[-3:]) and body["total"] == 3
    filtered = client.get("/api/search?q=kernel&category=cs.LG").get_json()
    assert [p["id"] for p in filtered["papers"]][0] == best_but_oldest
    monkeypatch.setattr(search_module, "RANKED_MATCHES", 5)
    assert search_ids(client, "kernel")[0] == best_but_oldest


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgresql_bounds_a_common_query_by_the_tables_statistics(client, monkeypatch):
    """Once PostgreSQL has statistics (ANALYZE, or autovacuum), a query estimated to match
    more than RANKED_MATCHES papers ranks those in the most recent share of the table that is
    expected to hold that many (one bitmap of the GIN and `added` indexes, no walk); one
    estimated under it ranks every match, the oldest included."""
    from sanity.engine import search as search_module

    best = make_record(title="Rare kernel, rare kernel", abstract="Rare kernel methods, rare.")
    records, kernel, together = [best], [best.id], []
    for i in range(2399):  # one in six is about kernels: a sixth of the papers match
        if i % 6 == 5:
            records.append(make_record(title=f"Study {i}", abstract=f"A kernel in part {i}."))
            kernel.append(records[-1].id)
        else:  # alpha and beta as common as kernel, together only in five old papers
            words = (
                ["alpha beta" if i < 30 else "alpha", "beta"][i % 6 - 1] if i % 6 in (1, 2) else ""
            )
            records.append(make_record(title=f"Other {i}", abstract=f"Topic {i} {words}."))
            if words == "alpha beta":
                together.append(records[-1].id)
    records += [make_record(title=f"Rare find {i}", abstract="Rare.") for i in range(9)]
    upsert_papers(records)
    order = "SELECT id, row_number() OVER (ORDER BY id DESC) AS k FROM papers"  # newest: k=1
    db.session.execute(db.text(f"UPDATE papers SET added = now() - interval '1 minute' * o.k "
                               f"FROM ({order}) o WHERE papers.id = o.id"))  # fmt: skip
    db.session.execute(db.text("ANALYZE papers"))
    db.session.commit()
    assert db.session.scalar(db.text("SHOW jit")) == "off"
    monkeypatch.setattr(search_module, "RANKED_MATCHES", 40)
    assert isinstance(pgsearch.window(parse_query("kernel"), False, 40), datetime)  # a bitmap
    body = client.get("/api/search?q=kernel&per_page=100").get_json()
    got = [p["id"] for p in body["papers"]]
    assert 20 <= body["total"] <= 100 and len(got) == body["total"]
    assert set(got) <= set(kernel[-100:]) and best.id not in got  # the most recent only
    assert search_ids(client, "rare")[0] == best.id  # 10 matches: every one ranked, the oldest
    # Estimated like kernel, but the window holds none of the papers with both words: the
    # matches are ranked again without a bound (never the any-word fallback)
    assert len(together) == 5 and isinstance(
        pgsearch.window(parse_query("alpha beta"), False, 40), datetime
    )
    body = client.get("/api/search?q=alpha+beta").get_json()
    assert sorted(p["id"] for p in body["papers"]) == sorted(together) and body["total"] == 5


def test_the_unfiltered_total_is_reused_until_a_paper_is_added(client, monkeypatch):
    """The newest list's total is kept per process (counting a million rows costs tens of
    milliseconds), recounted when a paper is added or when it is older than TOTAL_MAX_AGE."""
    from sanity import papers

    def delete_one() -> None:  # papers are never deleted: a deletion goes unnoticed
        db.session.execute(db.text("DELETE FROM papers WHERE id = (SELECT min(id) FROM papers)"))
        db.session.commit()

    for _ in range(3):
        make_paper()
    assert papers.papers_total() == 3
    delete_one()
    assert papers.papers_total() == 3
    make_paper()
    make_paper()
    assert papers.papers_total() == 4  # an addition is noticed
    delete_one()
    assert papers.papers_total() == 4
    monkeypatch.setattr(papers, "TOTAL_MAX_AGE", 0.0)  # an old count is recounted
    assert papers.papers_total() == 3


def test_the_window_start_counts_an_import_batch_sharing_one_added_time():
    """pg_stats leaves the most common `added` values (an import's batch shares one) out of
    the histogram: the window's start weighs them with their own share."""
    at = [f"2026-01-01 {h:02d}:00:00+00" for h in range(21)]
    batch, share = [at[10]], [0.5]  # half the papers were imported in one batch at 10:00
    bounds = at[0:21:2]  # the other half: ten buckets of 5% from 00:00 to 20:00
    assert pgsearch.since(0.1, batch, share, bounds, 0.0) == datetime.fromisoformat(at[16])
    assert pgsearch.since(0.3, batch, share, bounds, 0.0) == datetime.fromisoformat(at[10])
    assert pgsearch.since(0.9, batch, share, bounds, 0.0) == datetime.fromisoformat(at[4])
    assert pgsearch.since(1.5, batch, share, bounds, 0.0) is None  # more than there is
    assert pgsearch.since(0.1, None, None, bounds, 0.0) == datetime.fromisoformat(at[18])
