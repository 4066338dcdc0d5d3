"""Atom feeds (parsed back with feedparser) and saved searches."""

from __future__ import annotations

from datetime import timedelta

import feedparser
import pytest

from sanity.accounts import users as accounts
from sanity.engine import jobs
from tests.factories import make_paper, topical_papers

pytestmark = pytest.mark.both_databases


def bearer(name: str = "fred") -> dict[str, str]:
    user = accounts.find_user(name) or accounts.create_user(name, "fred password")
    return {"Authorization": f"Bearer {accounts.create_token(user)}"}


def test_category_feed_is_valid_atom_linking_here_and_to_arxiv(app, client):
    """The public category feed lists its newest papers, each linking to both pages."""
    make_paper(title="Robots & <grippers>", categories=["cs.RO"])
    make_paper(title="Other", categories=["math.AP"])
    response = client.get("/feeds/category/cs.RO.atom")
    assert response.status_code == 200 and response.mimetype == "application/atom+xml"
    parsed = feedparser.parse(response.data)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert [e.title for e in parsed.entries] == ["Robots & <grippers>"]
    links = {link.rel: link.href for link in parsed.entries[0].links}
    pid = parsed.entries[0].id.rsplit("/", 1)[1]
    assert links["alternate"] == app.config["BASE_URL"].rstrip("/") + f"/paper/{pid}"
    assert links["related"] == f"https://arxiv.org/abs/{pid}"
    assert client.get("/feeds/category/<x>.atom").status_code == 400


def test_feed_entries_carry_links_authors_categories_and_escaped_text(app, client):
    """Each entry: alternate/related/enclosure links with their types, every author and category,
    and the abstract as escaped text (markup never becomes markup; control characters dropped)."""
    make_paper(
        id="2603.04444",
        version=2,
        title="<b>Bold</b> & \x01robots",
        abstract="<script>alert(1)</script> & more",
        authors=["Ann <Lee>", "Bo Ek"],
        categories=["cs.RO", "cs.AI"],
    )
    body = client.get("/feeds/category/cs.RO.atom").data
    assert b"<script>" not in body and b"<b>" not in body
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    entry = parsed.entries[0]
    assert entry.title == "<b>Bold</b> & robots"
    assert entry.summary == "<script>alert(1)</script> & more"
    assert entry.summary_detail.type == "text/plain"
    assert [a.name for a in entry.authors] == ["Ann <Lee>", "Bo Ek"]
    assert [t.term for t in entry.tags] == ["cs.RO", "cs.AI"]
    links = {link.rel: (link.href, link.type, link.get("title")) for link in entry.links}
    base = app.config["BASE_URL"].rstrip("/")
    assert links == {
        "alternate": (f"{base}/paper/2603.04444", "text/html", None),
        "related": ("https://arxiv.org/abs/2603.04444", "text/html", "arXiv"),
        "enclosure": ("https://arxiv.org/pdf/2603.04444v2", "application/pdf", None),
    }
    feed_links = {link.rel: link.href for link in parsed.feed.links}
    assert feed_links["self"] == f"{base}/feeds/category/cs.RO.atom"
    assert parsed.feed.id == "urn:sanity:category:cs.RO"
    assert parsed.feed.generator == "sanity"


def test_tag_feed_needs_the_key_and_stops_when_revoked(client):
    """A tag's recommendation feed works with the key, without login, until revoked."""
    topics = topical_papers(6)
    jobs.full_build()
    h = bearer()
    for pid in topics["graphs"][:2]:
        client.put(f"/api/tags/graphs/papers/{pid}", headers=h)
    user = accounts.find_user("fred")
    key = accounts.feed_key(user)
    reader = client.application.test_client()
    parsed = feedparser.parse(reader.get(f"/feeds/{key}/tags/graphs.atom?days=3650").data)
    assert not parsed.bozo and parsed.entries
    ids = [e.id.rsplit("/", 1)[1] for e in parsed.entries]
    assert set(ids[:4]) <= set(topics["graphs"][2:])
    assert reader.get(f"/feeds/{key}/tags/all.atom").status_code == 200
    assert reader.get(f"/feeds/{key}/tags/nope.atom").status_code == 404
    assert reader.get("/feeds/wrong-key/tags/graphs.atom").status_code == 404
    accounts.revoke_feed_key(user)
    assert reader.get(f"/feeds/{key}/tags/graphs.atom").status_code == 404


def test_feed_key_from_the_profile(client, login):
    """The profile creates, shows and replaces the feed key (POST with CSRF)."""
    token = login(client, "gus")
    assert client.post("/feeds/key").status_code == 400  # no CSRF token
    client.post("/feeds/key", data={"csrf_token": token})
    first = accounts.find_user("gus").feed_key
    assert first and first in client.get("/profile").get_data(as_text=True)
    client.post("/feeds/key", data={"csrf_token": token})
    assert accounts.find_user("gus").feed_key != first
    client.post("/feeds/key/revoke", data={"csrf_token": token})
    assert accounts.find_user("gus").feed_key is None


def test_saved_searches_api_new_matches_and_feed(client, clock, monkeypatch):
    """Save a search; papers added later are its new matches until marked seen; it has a feed."""
    make_paper(title="Old spectral clustering")
    clock.advance(30)  # the search is saved after the old paper arrived
    h = bearer()
    response = client.post("/api/searches", json={"name": "spec", "q": "spectral"}, headers=h)
    assert response.status_code == 201
    sid = response.get_json()["id"]
    assert (
        client.post("/api/searches", json={"name": "spec", "q": "x"}, headers=h).status_code == 409
    )
    assert client.post("/api/searches", json={"q": ""}, headers=h).status_code == 400
    import sanity.ingest.upsert

    later = clock.now() + timedelta(seconds=10)
    monkeypatch.setattr(sanity.ingest.upsert, "utcnow", lambda: later)
    new = make_paper(title="New spectral methods")
    body = client.get(f"/api/searches/{sid}/papers", headers=h).get_json()
    assert [p["id"] for p in body["papers"]] == [new.id]
    listed = client.get("/api/searches", headers=h).get_json()["searches"]
    assert listed[0]["new"] == 1 and listed[0]["q"] == "spectral"
    clock.advance(60)
    client.post(f"/api/searches/{sid}/seen", headers=h)
    assert client.get(f"/api/searches/{sid}/papers", headers=h).get_json()["papers"] == []
    key = accounts.feed_key(accounts.find_user("fred"))
    parsed = feedparser.parse(client.get(f"/feeds/{key}/searches/{sid}.atom?days=3650").data)
    assert {e.title for e in parsed.entries} == {"Old spectral clustering", "New spectral methods"}
    other = bearer("hilda")
    assert client.get(f"/api/searches/{sid}/papers", headers=other).status_code == 404
    assert client.delete(f"/api/searches/{sid}", headers=h).get_json() == {"searches": []}


def test_saved_searches_page(client, login):
    """The page saves a search from a form and lists it."""
    token = login(client, "ines")
    make_paper(title="Kernel ridge regression")
    response = client.post("/searches", data={"csrf_token": token, "q": "kernel", "name": ""})
    assert response.status_code == 302
    page = client.get("/searches").get_data(as_text=True)
    assert "kernel" in page
