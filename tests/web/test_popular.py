"""rank=popular on / and GET /api/papers?sort=popular: the papers this instance's users tag
most, counted once per user, without negatives or disabled accounts, shown to everyone."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sanity.accounts.tags import add_paper
from sanity.accounts.users import create_user
from sanity.db import db
from tests.factories import make_paper


def ids(body: dict) -> list[str]:
    return [p["id"] for p in body["papers"]]


@pytest.fixture
def tagged(app, clock):
    """Five papers (a newest) tagged by four users, one of them disabled:
    a: 3 users (alice twice, in two tags), b: 2, c: 1, d: only negative, e: only the disabled
    user; f: untagged."""
    now = clock.now()
    papers = {
        name: make_paper(when=now - timedelta(days=age), categories=cats).id
        for name, age, cats in [
            ("a", 10, ["cs.LG"]), ("b", 1, ["math.AP", "cs.LG"]), ("c", 2, ["math.AP"]),
            ("d", 1, ["cs.LG"]), ("e", 1, ["cs.LG"]), ("f", 1, ["cs.LG"]),
        ]
    }  # fmt: skip
    alice, bob, carol, dave = (create_user(n, None) for n in ("alice", "bob", "carol", "dave"))
    for user, tag, paper in [
        (alice, "ml", "a"), (alice, "reading", "a"), (bob, "x", "a"), (carol, "y", "a"),
        (alice, "ml", "b"), (bob, "x", "b"), (carol, "y", "c"), (dave, "z", "e"),
    ]:  # fmt: skip
        add_paper(user, tag, papers[paper])
    add_paper(alice, "ml", papers["d"], negative=True)
    add_paper(bob, "x", papers["d"], negative=True)
    add_paper(carol, "y", papers["c"], negative=False)  # again: still one
    dave.is_disabled = True
    db.session.commit()
    return papers


@pytest.mark.both_databases
def test_counts_each_user_once_without_negatives_or_disabled(client, tagged):
    """Counts are distinct enabled users with a positive tag; order is count, then newest."""
    body = client.get("/api/papers?sort=popular").get_json()
    assert ids(body) == [tagged["a"], tagged["b"], tagged["c"]]
    assert [p["count"] for p in body["papers"]] == [3, 2, 1]
    assert body["total"] == 3 and body["page"] == 1
    assert {"title", "abstract", "authors", "url"} <= set(body["papers"][0])
    assert "alice" not in str(body)  # nobody is named


@pytest.mark.both_databases
def test_window_category_and_pages(client, tagged):
    """days keeps papers published in the window; category matches cross-lists; pages are
    cut after filtering, with the right total."""
    body = client.get("/api/papers?sort=popular&days=3").get_json()
    assert ids(body) == [tagged["b"], tagged["c"]] and body["total"] == 2
    body = client.get("/api/papers?sort=popular&category=math.AP").get_json()
    assert ids(body) == [tagged["b"], tagged["c"]]
    body = client.get("/api/papers?sort=popular&category=cs.LG&days=3").get_json()
    assert ids(body) == [tagged["b"]] and body["papers"][0]["count"] == 2
    pages = [
        client.get(f"/api/papers?sort=popular&per_page=2&page={n}").get_json() for n in (1, 2, 3)
    ]
    assert [ids(p) for p in pages] == [[tagged["a"], tagged["b"]], [tagged["c"]], []]
    assert {p["total"] for p in pages} == {3}


@pytest.mark.both_databases
def test_ties_go_newest_first(client, clock):
    """Papers with the same count come newest first (by first publication)."""
    now = clock.now()
    old, new = (make_paper(when=now - timedelta(days=d)).id for d in (5, 1))
    user = create_user("erin", None)
    add_paper(user, "t", old)
    add_paper(user, "t", new)
    body = client.get("/api/papers?sort=popular").get_json()
    assert ids(body) == [new, old] and [p["count"] for p in body["papers"]] == [1, 1]


def test_the_page_shows_counts_to_anyone(client, tagged):
    """Anonymous visitors see the popular list with counts, not who tagged."""
    html = client.get("/?rank=popular").get_data(as_text=True)
    assert "<h1>Popular papers</h1>" in html and 'aria-current="true">Popular' in html
    assert html.index(f'id="p-{tagged["a"]}"') < html.index(f'id="p-{tagged["b"]}"')
    assert "tagged by 3 users" in html and "tagged by 1 user<" in html
    assert f'id="p-{tagged["d"]}"' not in html and f'id="p-{tagged["f"]}"' not in html
    assert "alice" not in html and "carol" not in html


def test_the_page_falls_back_when_the_window_is_empty(client, tagged):
    """An empty window says so and shows the popular papers of any time."""
    html = client.get("/?rank=popular&days=0.5").get_data(as_text=True)
    assert "Showing results from any time instead" in html
    assert f'id="p-{tagged["a"]}"' in html


def test_empty_state_without_tags(client):
    """With no tags at all the page explains what Popular is (not an error)."""
    make_paper()
    response = client.get("/?rank=popular")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Nobody has tagged a paper yet" in html and 'class="papers"' not in html
    assert client.get("/api/papers?sort=popular").get_json() == {
        "papers": [], "total": 0, "page": 1
    }  # fmt: skip


def test_bad_sort_names_the_choices(client):
    """An unknown sort is a 400 listing the three."""
    response = client.get("/api/papers?sort=best")
    assert response.status_code == 400
    assert "popular" in response.get_json()["error"]


def test_openapi_declares_popular_and_count(client):
    """The OpenAPI document lists sort=popular and the paper's count."""
    spec = client.get("/api/openapi.json").get_json()
    params = spec["paths"]["/api/papers"]["get"]["parameters"]
    sort = next(p for p in params if p["name"] == "sort")
    assert sort["schema"]["enum"] == ["time", "random", "popular"]
    assert spec["components"]["schemas"]["Paper"]["properties"]["count"]["type"] == "integer"
