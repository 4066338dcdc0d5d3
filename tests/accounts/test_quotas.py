"""Per-account quotas from outside: tags, papers per tag, saved searches and library imports
answer a clear 400 over their MAX_* key, and the defaults are generous."""

from __future__ import annotations

import pytest

from config import TestingConfig
from sanity.accounts import library
from sanity.accounts import users as accounts
from sanity.accounts.lite import import_users
from sanity.accounts.quotas import DEFAULTS
from sanity.ingest.lite import LiteUser
from tests.factories import make_paper, register

pytestmark = pytest.mark.both_databases  # sessions, limits and quotas live in the database


@pytest.fixture(autouse=True)
def limits_on(request):
    """Quotas are limits: on while RATELIMIT_ENABLED is (the test config has it off)."""
    if "app" in request.fixturenames:
        request.getfixturevalue("app").config["RATELIMIT_ENABLED"] = True


def test_quotas_follow_the_one_switch_for_limits(app, client):
    """With RATELIMIT_ENABLED off, no quota is counted."""
    token = register(client, "una")
    app.config.update(MAX_TAGS_PER_USER=1, RATELIMIT_ENABLED=False)
    paper = make_paper().id
    assert put(client, token, "a", paper).status_code == 200
    assert put(client, token, "b", paper).status_code == 200


def put(client, token: str, tag: str, pid: str):
    return client.put(f"/api/tags/{tag}/papers/{pid}", headers={"X-CSRFToken": token})


def test_defaults_are_generous_and_configurable():
    """Hundreds of tags, thousands of papers per tag; every quota has its own key."""
    assert TestingConfig.MAX_TAGS_PER_USER >= 200 and TestingConfig.MAX_PAPERS_PER_TAG >= 2000
    for key, value in DEFAULTS.items():
        assert getattr(TestingConfig, key) == value


def test_tags_per_account_and_papers_per_tag(app, client):
    """Over MAX_TAGS_PER_USER or MAX_PAPERS_PER_TAG: 400 naming the limit; nothing stored."""
    app.config.update(MAX_TAGS_PER_USER=2, MAX_PAPERS_PER_TAG=2)
    token = register(client, "quinn")
    papers = [make_paper().id for _ in range(3)]
    assert put(client, token, "a", papers[0]).status_code == 200
    assert put(client, token, "b", papers[0]).status_code == 200
    over = put(client, token, "c", papers[0])
    assert over.status_code == 400 and "at most 2 tags per account" in over.json["error"]
    assert put(client, token, "a", papers[1]).status_code == 200
    assert put(client, token, "a", papers[1]).status_code == 200  # already there: no change
    full = put(client, token, "a", papers[2])
    assert full.status_code == 400 and "at most 2 papers per tag" in full.json["error"]
    tags = client.get("/api/tags").json["tags"]
    assert sorted(tags) == ["a", "b"] and len(tags["a"]) == 2
    # Renaming onto another tag merges, within the same bound.
    assert put(client, token, "b", papers[2]).status_code == 200
    merged = client.post("/api/tags/b/rename", json={"name": "a"}, headers={"X-CSRFToken": token})
    assert merged.status_code == 400 and "papers per tag" in merged.json["error"]


def test_saved_searches_per_account(app, client):
    """Over MAX_SAVED_SEARCHES a new saved search is a 400 with a clear message."""
    app.config.update(MAX_SAVED_SEARCHES=1)
    token = register(client, "rosa")
    headers = {"X-CSRFToken": token}
    first = client.post("/api/searches", json={"name": "one", "q": "graphs"}, headers=headers)
    assert first.status_code == 201
    second = client.post("/api/searches", json={"name": "two", "q": "trees"}, headers=headers)
    assert second.status_code == 400 and "saved searches" in second.json["error"]


def test_library_import_size_and_quotas(app, client):
    """An import over MAX_LIBRARY_IMPORT_PAPERS, or one that would pass a quota, is refused."""
    token = register(client, "sam")
    headers = {"X-CSRFToken": token}
    papers = [make_paper().id for _ in range(3)]
    body = {"version": library.VERSION, "tags": {"x": [{"id": p} for p in papers]}}
    app.config.update(MAX_LIBRARY_IMPORT_PAPERS=2)
    big = client.post("/api/library", json=body, headers=headers)
    assert big.status_code == 400 and "in one library import" in big.json["error"]
    app.config.update(MAX_LIBRARY_IMPORT_PAPERS=100, MAX_PAPERS_PER_TAG=2)
    per_tag = client.post("/api/library", json=body, headers=headers)
    assert per_tag.status_code == 400 and "papers per tag" in per_tag.json["error"]
    app.config.update(MAX_PAPERS_PER_TAG=100, MAX_TAGS_PER_USER=1)
    assert put(client, token, "held", papers[0]).status_code == 200
    more = {"version": library.VERSION, "tags": {"y": [{"id": papers[1]}]}}
    # Within the import's own bounds but over the quota with what the account holds: a 400
    # naming the quota, and nothing stored.
    over = client.post("/api/library", json=more, headers=headers)
    assert over.status_code == 400 and "tags per account" in over.json["error"]
    assert client.get("/api/tags").json["tags"] == {"held": [papers[0]]}


def test_an_arxiv_sanity_lite_import_over_a_quota_skips_only_that_users_tags(app):
    """One account over MAX_TAGS_PER_USER is reported; the other accounts' tags go in."""
    app.config.update(MAX_TAGS_PER_USER=1)
    pid = make_paper().id
    messages: list[str] = []
    stats = import_users(
        [LiteUser("many", tags={"a": {pid}, "b": {pid}}), LiteUser("few", tags={"c": {pid}})],
        report=messages.append,
    )
    assert stats.created == 2 and stats.tags_created == 1
    assert any("many" in m and "tags per account" in m for m in messages)
    assert [t.name for t in accounts.find_user("few").tags] == ["c"]
    assert accounts.find_user("many").tags == []
