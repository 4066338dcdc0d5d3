"""Library export (JSON, CSV) and import: shape, round trip, idempotence, errors, limits."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select

from sanity.accounts import users as accounts
from sanity.db import db
from sanity.models import Paper, Tag, TagPaper
from sanity.timeutil import isoformat
from tests.factories import BASE_TIME, make_paper, make_record

pytestmark = pytest.mark.both_databases


def bearer(name: str = "lib") -> dict[str, str]:
    user = accounts.find_user(name) or accounts.create_user(name, "lib password")
    return {"Authorization": f"Bearer {accounts.create_token(user)}"}


def fill(client, h: dict) -> tuple[str, str, str]:
    """Tag 'ml': a, then b (not interested); tag 'other': c; tag 'empty': nothing; one search."""
    a, b, c = make_paper().id, make_paper().id, make_paper().id
    assert client.put(f"/api/tags/ml/papers/{a}", headers=h).status_code == 200
    assert client.put(f"/api/tags/ml/papers/{b}?negative=1", headers=h).status_code == 200
    assert client.put(f"/api/tags/other/papers/{c}", headers=h).status_code == 200
    client.put(f"/api/tags/empty/papers/{c}", headers=h)
    client.delete(f"/api/tags/empty/papers/{c}", headers=h)
    saved = {"name": "graphs", "q": "graph neural", "category": "cs.LG"}
    assert client.post("/api/searches", json=saved, headers=h).status_code in (200, 201)
    return a, b, c


def library_state(user_name: str) -> set[tuple]:
    user = accounts.find_user(user_name)
    rows = db.session.execute(
        select(Tag.name, TagPaper.paper_id, TagPaper.negative)
        .outerjoin(TagPaper, TagPaper.tag_id == Tag.id)
        .where(Tag.user_id == user.id)
    )
    return {tuple(r) for r in rows}


def test_exports_need_authentication(client):
    """Anonymous export and import requests are 401 JSON errors."""
    for path in ("/api/library", "/api/library.csv"):
        response = client.get(path)
        assert response.status_code == 401 and response.is_json
    response = client.post("/api/library", json={"version": 1}, headers={"Authorization": "x"})
    assert response.status_code in (400, 401) and response.is_json


def test_json_export_shape(client, clock):
    """GET /api/library: version, user, time, tags with polarity and times, saved searches."""
    h = bearer("june")
    a, b, c = fill(client, h)
    response = client.get("/api/library", headers=h)
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert "attachment" in response.headers["Content-Disposition"]
    body = response.get_json()
    assert body["version"] == 1 and body["user"] == "june"
    assert body["exported"] == isoformat(clock.now())
    assert set(body["tags"]) == {"ml", "other", "empty"}
    assert [(e["id"], e["negative"]) for e in body["tags"]["ml"]] == [(a, False), (b, True)]
    assert body["tags"]["other"][0]["id"] == c and body["tags"]["empty"] == []
    assert all(e["added"].endswith("Z") for e in body["tags"]["ml"])
    assert body["saved_searches"] == [{"name": "graphs", "query": "graph neural",
                                       "category": "cs.LG"}]  # fmt: skip


def test_export_holds_only_your_library(client):
    """Another user's tags never appear in your export."""
    fill(client, bearer("kate"))
    body = client.get("/api/library", headers=bearer("liam")).get_json()
    assert body["tags"] == {} and body["saved_searches"] == [] and body["user"] == "liam"


def test_csv_export(client):
    """GET /api/library.csv: header, one row per membership, 1/0 for negative, the title."""
    h = bearer("mona")
    a, b, c = fill(client, h)
    response = client.get("/api/library.csv", headers=h)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["tag", "paper_id", "negative", "added", "title"]
    assert [r[:3] for r in rows[1:]] == [["ml", a, "0"], ["ml", b, "1"], ["other", c, "0"]]
    title = db.session.get(Paper, a).title
    assert rows[1][4] == title and rows[1][3].endswith("Z")


def test_csv_defuses_spreadsheet_formulas(client):
    """A title starting with '=' is written with a leading apostrophe (no formula injection)."""
    pid = make_paper(title='=HYPERLINK("http://evil")').id
    h = bearer("ned")
    client.put(f"/api/tags/t/papers/{pid}", headers=h)
    rows = list(csv.reader(io.StringIO(client.get("/api/library.csv", headers=h).get_data(True))))
    assert rows[1][4] == '\'=HYPERLINK("http://evil")'


def test_export_is_not_capped(client):
    """A library of 1,500 memberships comes out whole, as JSON and as CSV."""
    records = [make_record() for _ in range(1500)]
    db.session.execute(
        insert(Paper),
        [
            dict(id=r.id, version=1, title=r.title, abstract="", authors=[], categories="cs.LG",
                 primary_category="cs.LG", published=r.published, updated=r.updated)
            for r in records
        ],
    )  # fmt: skip
    user = accounts.create_user("omar", "omar password")
    tag = Tag(user_id=user.id, name="big")
    db.session.add(tag)
    db.session.flush()
    db.session.execute(
        insert(TagPaper),
        [dict(tag_id=tag.id, paper_id=r.id, negative=False, added=BASE_TIME) for r in records],
    )
    db.session.commit()
    h = bearer("omar")
    body = client.get("/api/library", headers=h).get_json()
    assert sorted(e["id"] for e in body["tags"]["big"]) == sorted(r.id for r in records)
    text = client.get("/api/library.csv", headers=h).get_data(as_text=True)
    assert len(text.strip().splitlines()) == 1501


def test_round_trip_into_another_account_and_twice_is_idempotent(client):
    """Importing an export reproduces the library; importing it again changes nothing."""
    source = bearer("pia")
    fill(client, source)
    export = client.get("/api/library", headers=source).get_json()
    target = bearer("quin")
    first = client.post("/api/library", json=export, headers=target)
    assert first.status_code == 200, first.get_json()
    assert first.get_json() == {
        "tags_created": 3, "papers_added": 3, "papers_updated": 0, "papers_unchanged": 0,
        "skipped": [], "saved_searches_created": 1, "saved_searches_updated": 0,
        "saved_searches_unchanged": 0,
    }  # fmt: skip
    assert library_state("quin") == library_state("pia")
    again = client.post("/api/library", json=export, headers=target).get_json()
    assert again["tags_created"] == again["papers_added"] == again["papers_updated"] == 0
    assert again["papers_unchanged"] == 3 and again["saved_searches_unchanged"] == 1
    reexport = client.get("/api/library", headers=target).get_json()
    assert reexport["tags"] == export["tags"]  # the times added came along too
    assert reexport["saved_searches"] == export["saved_searches"]


def test_import_merges_reports_unknown_ids_and_restores_polarity(client):
    """Unknown ids are skipped and listed; a membership takes the exported polarity; nothing
    the import does not mention is removed."""
    a, b = make_paper().id, make_paper().id
    h = bearer("rosa")
    client.put(f"/api/tags/ml/papers/{a}?negative=1", headers=h)
    client.put(f"/api/tags/keep/papers/{b}", headers=h)
    added = (BASE_TIME - timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {
        "version": 1,
        "tags": {
            "ml": [{"id": a, "negative": False}, {"id": f"{b}v2", "added": added},
                   {"id": "2999.99999"}, "hep-th/9901001"],
        },
    }  # fmt: skip
    result = client.post("/api/library", json=body, headers=h).get_json()
    assert result["skipped"] == ["2999.99999", "hep-th/9901001"]
    assert result["papers_updated"] == 1 and result["papers_added"] == 1
    assert library_state("rosa") == {("ml", a, False), ("ml", b, False), ("keep", b, False)}
    exported = client.get("/api/library", headers=h).get_json()["tags"]["ml"]
    assert {e["id"]: e["added"] for e in exported}[b] == added


def test_import_updates_a_saved_search_of_the_same_name(client):
    """A saved search is matched by name: its query and category take the imported values."""
    h = bearer("sid")
    client.post("/api/searches", json={"name": "s", "q": "old words"}, headers=h)
    body = {"version": 1, "saved_searches": [{"name": "s", "query": "new words",
                                              "category": "cs.CV"}]}  # fmt: skip
    result = client.post("/api/library", json=body, headers=h).get_json()
    assert result["saved_searches_updated"] == 1
    searches = client.get("/api/library", headers=h).get_json()["saved_searches"]
    assert searches == [{"name": "s", "query": "new words", "category": "cs.CV"}]


def test_invalid_imports_are_400_naming_the_problem_and_write_nothing(client):
    """Each structural problem is a 400 whose message points at it; no partial import."""
    pid = make_paper().id
    h = bearer("tara")
    cases = [
        ([1, 2], "JSON object"),
        ({"tags": {}}, "version"),
        ({"version": 2}, "version"),
        ({"version": 1, "tags": []}, "tags"),
        ({"version": 1, "tags": {"ok": [pid], "a/b": []}}, 'tags["a/b"]'),
        ({"version": 1, "tags": {"ok": [pid], "all": []}}, "reserved"),
        ({"version": 1, "tags": {"ok": {"id": pid}}}, 'tags["ok"] must be a list'),
        ({"version": 1, "tags": {"ok": [pid, {"id": "junk"}]}}, 'tags["ok"][1].id'),
        ({"version": 1, "tags": {"ok": [{"id": 5}]}}, 'tags["ok"][0].id'),
        ({"version": 1, "tags": {"ok": [{"id": pid, "negative": "yes"}]}}, ".negative"),
        ({"version": 1, "tags": {"ok": [{"id": pid, "added": "soon"}]}}, ".added"),
        ({"version": 1, "tags": {"ok": [pid]}, "saved_searches": {}}, "saved_searches"),
        ({"version": 1, "tags": {"ok": [pid]}, "saved_searches": [{"name": "x"}]},
         "saved_searches[0].query"),
        ({"version": 1, "saved_searches": [{"name": "x", "query": "q", "category": "a b"}]},
         "saved_searches[0].category"),
        ({"version": 1, "saved_searches": [{"name": "", "query": "q"}]},
         "saved_searches[0].name"),
    ]  # fmt: skip
    for body, fragment in cases:
        response = client.post("/api/library", json=body, headers=h)
        assert response.status_code == 400, body
        assert fragment in response.get_json()["error"], (body, response.get_json())
    assert library_state("tara") == set()
    response = client.post("/api/library", data="{not json", headers=h)
    assert response.status_code == 400 and "JSON" in response.get_json()["error"]


def test_import_body_size_is_limited(app, client):
    """A body over MAX_CONTENT_LENGTH is refused with a 413 JSON error."""
    app.config["MAX_CONTENT_LENGTH"] = 2000
    h = bearer("uri")
    big = {"version": 1, "tags": {"t": [f"2603.{i:05d}" for i in range(500)]}}
    response = client.post("/api/library", json=big, headers=h)
    assert response.status_code == 413 and "error" in response.get_json()


def test_browser_imports_need_the_csrf_token(client, login):
    """A session import without X-CSRFToken is refused; with it, it works."""
    pid = make_paper().id
    token = login(client, "vic")
    body = {"version": 1, "tags": {"mine": [pid]}}
    assert client.post("/api/library", json=body).status_code == 400
    assert library_state("vic") == set()
    response = client.post("/api/library", json=body, headers={"X-CSRFToken": token})
    assert response.status_code == 200 and response.get_json()["papers_added"] == 1
    assert client.get("/api/library.csv").status_code == 200  # reads need no token


def test_count_of_memberships_after_repeated_imports(client):
    """Repeating an import many times never duplicates a membership."""
    pid = make_paper().id
    h = bearer("wes")
    body = {"version": 1, "tags": {"a": [pid], "b": [{"id": pid, "negative": True}]}}
    for _ in range(3):
        assert client.post("/api/library", json=body, headers=h).status_code == 200
    assert db.session.scalar(select(func.count()).select_from(TagPaper)) == 2
    assert db.session.scalar(select(func.count()).select_from(Tag)) == 2


def test_bibtex_links_from_the_pages(client, login):
    """The paper page, a tag page and the profile link to BibTeX and library downloads."""
    from tests.factories import make_paper

    token = login(client, "libby")
    paper = make_paper()
    client.put(f"/api/tags/reading/papers/{paper.id}", headers={"X-CSRFToken": token})
    assert f"/api/papers/{paper.id}/bibtex" in client.get(f"/paper/{paper.id}").get_data(True)
    assert "/api/tags/reading/bibtex" in client.get("/tags/reading").get_data(as_text=True)
    profile = client.get("/profile").get_data(as_text=True)
    assert "/api/library.csv" in profile and "/api/tags/all/bibtex" in profile
    every = client.get("/api/tags/all/bibtex")
    assert every.status_code == 200 and paper.id in every.get_data(as_text=True)
