"""Tags through the JSON API: session + CSRF or Bearer token, isolation, recommendations."""

from __future__ import annotations

import pytest

from sanity.accounts import users as accounts
from sanity.engine import jobs
from tests.factories import make_paper, topical_papers

pytestmark = pytest.mark.both_databases


def bearer(name: str = "tess") -> dict[str, str]:
    user = accounts.find_user(name) or accounts.create_user(name, "tess password")
    return {"Authorization": f"Bearer {accounts.create_token(user)}"}


def test_tags_need_authentication(client):
    """Anonymous tag requests are 401 JSON errors."""
    paper = make_paper()
    assert client.get("/api/tags").status_code == 401
    response = client.put(f"/api/tags/x/papers/{paper.id}")
    assert response.status_code in (400, 401) and response.is_json
    assert client.get("/api/tags", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_add_remove_and_list_with_a_token(client):
    """PUT adds (creating the tag), ?negative=1 marks not interested, DELETE removes."""
    a, b = make_paper().id, make_paper().id
    h = bearer()
    assert client.put(f"/api/tags/ml/papers/{a}", headers=h).status_code == 200
    body = client.put(f"/api/tags/ml/papers/{b}?negative=1", headers=h).get_json()
    assert body == {"tags": {"ml": [a]}, "negative": {"ml": [b]}}
    body = client.put(f"/api/tags/ml/papers/{b}", headers=h).get_json()  # switch polarity
    assert sorted(body["tags"]["ml"]) == sorted([a, b]) and body["negative"] == {}
    assert client.delete(f"/api/tags/ml/papers/{a}", headers=h).get_json()["tags"] == {"ml": [b]}
    assert client.delete(f"/api/tags/ml/papers/{a}", headers=h).status_code == 404
    assert client.delete("/api/tags/ml", headers=h).get_json() == {"tags": {}, "negative": {}}
    assert client.delete("/api/tags/ml", headers=h).status_code == 404


def test_versioned_and_old_style_ids_and_errors(client):
    """Ids in any form are normalised; unknown papers 404; bad ids and names 400."""
    make_paper(id="hep-th/9901001")
    h = bearer()
    body = client.put("/api/tags/old/papers/hep-th/9901001v2", headers=h).get_json()
    assert body["tags"] == {"old": ["hep-th/9901001"]}
    assert client.put("/api/tags/x/papers/2999.99999", headers=h).status_code == 404
    assert client.put("/api/tags/x/papers/nonsense", headers=h).status_code == 400
    assert client.put("/api/tags/all/papers/hep-th/9901001", headers=h).status_code == 400
    long_name = "n" * 65
    assert client.put(f"/api/tags/{long_name}/papers/hep-th/9901001", headers=h).status_code == 400


def test_session_writes_need_the_csrf_header(client, login):
    """Browser writes without the X-CSRFToken header are refused; with it they work."""
    paper = make_paper().id
    token = login(client, "uma")
    assert client.put(f"/api/tags/t/papers/{paper}").status_code == 400
    response = client.put(f"/api/tags/t/papers/{paper}", headers={"X-CSRFToken": token})
    assert response.status_code == 200 and response.get_json()["tags"] == {"t": [paper]}


def test_users_cannot_touch_each_others_tags(client):
    """One user's token never reads or changes another user's tags."""
    paper = make_paper().id
    mine, theirs = bearer("vera"), bearer("walt")
    client.put(f"/api/tags/secret/papers/{paper}", headers=mine)
    assert client.get("/api/tags", headers=theirs).get_json() == {"tags": {}, "negative": {}}
    assert client.delete("/api/tags/secret", headers=theirs).status_code == 404
    assert client.get("/api/tags", headers=mine).get_json()["tags"] == {"secret": [paper]}


def test_rename_and_merge(client):
    """Renaming moves the papers; renaming onto an existing tag merges."""
    a, b = make_paper().id, make_paper().id
    h = bearer()
    client.put(f"/api/tags/one/papers/{a}", headers=h)
    client.put(f"/api/tags/two/papers/{b}", headers=h)
    body = client.post("/api/tags/one/rename", json={"name": "uno"}, headers=h).get_json()
    assert set(body["tags"]) == {"uno", "two"}
    body = client.post("/api/tags/uno/rename", json={"name": "two"}, headers=h).get_json()
    assert sorted(body["tags"]["two"]) == sorted([a, b]) and set(body["tags"]) == {"two"}
    assert client.post("/api/tags/nope/rename", json={"name": "x"}, headers=h).status_code == 404
    assert client.post("/api/tags/two/rename", json={}, headers=h).status_code == 400


def test_recommend_for_tags(client):
    """tags=NAME and tags=all recommend from the user's tags, excluding every tagged paper."""
    topics = topical_papers(8)
    jobs.full_build()
    h = bearer()
    for pid in topics["robots"][:3]:
        client.put(f"/api/tags/robots/papers/{pid}", headers=h)
    client.put(f"/api/tags/other/papers/{topics['robots'][3]}", headers=h)
    client.put(f"/api/tags/robots/papers/{topics['graphs'][0]}?negative=1", headers=h)
    body = client.get("/api/recommend?tags=robots&limit=6", headers=h).get_json()
    got = [p["id"] for p in body["papers"]]
    assert set(got[:4]) == set(topics["robots"][4:])  # the untagged robot papers come first
    tagged = set(topics["robots"][:4]) | {topics["graphs"][0]}
    assert not tagged & set(got) and len(got) == 6
    assert body["words"]
    assert client.get("/api/recommend?tags=all", headers=h).status_code == 200
    assert client.get("/api/recommend?tags=missing", headers=h).status_code == 404
    assert client.get("/api/recommend?tags=robots").status_code == 401
