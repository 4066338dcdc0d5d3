"""The read-only JSON API: /api/papers, /api/papers/ID, /api/stats, /api/health."""

from __future__ import annotations

from datetime import timedelta

import pytest

from config import TestingConfig
from sanity import create_app
from sanity.ingest.crawler import crawl
from tests.factories import fake_papers, make_paper

PAPER_FIELDS = {
    "id", "version", "title", "abstract", "authors", "categories", "published", "updated",
    "url", "pdf_url",
}  # fmt: skip


@pytest.mark.both_databases
def test_papers_newest_first_with_paging(client, clock):
    """Papers come newest first in the list shape, paged with total and page."""
    now = clock.now()
    ids = [make_paper(when=now - timedelta(hours=h)).id for h in range(30)]
    body = client.get("/api/papers?per_page=10&page=2").get_json()
    assert set(body) == {"papers", "total", "page"}
    assert body["total"] == 30 and body["page"] == 2
    assert [p["id"] for p in body["papers"]] == ids[10:20]
    assert PAPER_FIELDS <= set(body["papers"][0])
    assert client.get("/api/papers").get_json()["papers"].__len__() == 25
    assert client.get("/api/papers?page=9").get_json()["papers"] == []


def test_per_page_is_bounded(client):
    """per_page above 100 (or other bad paging) is a 400 naming the parameter."""
    response = client.get("/api/papers?per_page=101")
    assert response.status_code == 400
    assert "per_page" in response.get_json()["error"] and "100" in response.get_json()["error"]
    for query in ("page=0", "page=x", "per_page=0", "sort=best", "days=-1", "days=soon"):
        response = client.get(f"/api/papers?{query}")
        assert response.status_code == 400, query
        assert query.split("=")[0] in response.get_json()["error"]


@pytest.mark.both_databases
def test_random_sort_returns_the_same_papers(client):
    """sort=random returns papers from the collection, all of them when they fit a page."""
    ids = {make_paper().id for _ in range(8)}
    body = client.get("/api/papers?sort=random").get_json()
    assert {p["id"] for p in body["papers"]} == ids and body["total"] == 8


@pytest.mark.both_databases
def test_category_filter_matches_cross_lists_exactly(client):
    """category=C matches primary and cross-listed categories, whole codes only."""
    a = make_paper(categories=["cs.LG", "stat.ML"]).id
    b = make_paper(categories=["stat.ML", "cs.LG"]).id
    make_paper(categories=["cs.LGX"])
    make_paper(categories=["math_AP"])
    got = client.get("/api/papers?category=cs.LG").get_json()
    assert {p["id"] for p in got["papers"]} == {a, b} and got["total"] == 2
    assert client.get("/api/papers?category=cs.L").get_json()["total"] == 0
    assert client.get("/api/papers?category=math%25").get_json()["total"] == 0
    assert client.get("/api/papers?category=math_AP").get_json()["total"] == 1


@pytest.mark.both_databases
def test_days_filter_uses_publication_time(client, clock):
    """days=D keeps papers first published within the last D days."""
    recent = make_paper(when=clock.now() - timedelta(days=1)).id
    make_paper(when=clock.now() - timedelta(days=10))
    got = client.get("/api/papers?days=3").get_json()
    assert [p["id"] for p in got["papers"]] == [recent]
    assert client.get("/api/papers").get_json()["total"] == 2


@pytest.mark.both_databases
def test_one_paper_by_any_id_form(client):
    """A paper by plain, versioned, arXiv:-prefixed and old-style id; JSON fields as designed."""
    record = make_paper(id="2401.01234", version=3, title="A & <b>", doi="10.1/x")
    make_paper(id="hep-th/9901001", version=2)
    for form in ("2401.01234", "2401.01234v2", "arXiv:2401.01234"):
        body = client.get(f"/api/papers/{form}").get_json()
        assert body["id"] == "2401.01234" and body["version"] == 3
    assert body["title"] == "A & <b>"
    assert body["authors"] == record.authors
    assert body["categories"] == ["cs.LG", "stat.ML"]
    assert body["url"] == "https://arxiv.org/abs/2401.01234"
    assert body["pdf_url"] == "https://arxiv.org/pdf/2401.01234v3"
    assert body["published"].endswith("Z") and body["doi"] == "10.1/x"
    old = client.get("/api/papers/hep-th/9901001").get_json()
    assert old["id"] == "hep-th/9901001" and old["url"].endswith("/abs/hep-th/9901001")


def test_unknown_and_malformed_ids(client):
    """Unknown ids are 404, strings that are not arXiv ids 400, both as JSON errors."""
    response = client.get("/api/papers/2401.99999")
    assert response.status_code == 404 and "2401.99999" in response.get_json()["error"]
    for bad in ("abc", "..%2f..%2fetc%2fpasswd", "2401.1", "%3Cscript%3E"):
        response = client.get(f"/api/papers/{bad}")
        assert response.status_code == 400, bad
        assert response.is_json and "not an arXiv id" in response.get_json()["error"]


@pytest.mark.both_databases
def test_stats_report_papers_and_last_crawl(app, client, arxiv, clock):
    """Stats give the paper count, the newest paper and the last crawl's outcome."""
    empty = client.get("/api/stats").get_json()
    assert empty == {"papers": 0, "newest": None, "newest_paper": None, "last_crawl": None,
                     "embedded": None}  # fmt: skip
    arxiv.add(*fake_papers(4))
    crawl(clock)
    stats = client.get("/api/stats").get_json()
    assert stats["papers"] == 4
    assert stats["newest_paper"]["id"] == "2603.00004"
    last = stats["last_crawl"]
    assert last["status"] == "ok" and last["new"] == 4 and last["new_papers"] == 4
    assert last["time"].endswith("Z") and last["error"] is None


@pytest.mark.both_databases
def test_health_ok_and_unavailable(client, tmp_path, monkeypatch):
    """Health is 200 when the database answers and 503 (JSON) when it does not."""
    assert client.get("/api/health").get_json() == {"status": "ok"}
    monkeypatch.setenv("SANITY_INSTANCE_PATH", str(tmp_path))
    down = create_app(
        TestingConfig, {"DATABASE_URL": "postgresql://nobody:x@127.0.0.1:9/none"}
    ).test_client()
    response = down.get("/api/health")
    assert response.status_code == 503 and response.get_json()["status"] == "unavailable"
    response = down.get("/api/papers")
    assert response.status_code == 503 and "database" in response.get_json()["error"]


def test_api_errors_are_json_for_any_path_and_method(client):
    """Unknown /api paths and wrong methods answer JSON errors, never HTML."""
    response = client.get("/api/nope")
    assert response.status_code == 404 and response.is_json
    response = client.post("/api/papers")
    assert response.status_code == 405 and response.get_json()["error"]
    response = client.delete("/api/stats")
    assert response.status_code == 405 and response.is_json
