"""No input reaches a 500: each input that once did, on both databases, from outside (HTTP)."""

from __future__ import annotations

import threading

from sqlalchemy.exc import OperationalError

from sanity.accounts import users as accounts
from sanity.db import db
from sanity.models import Tag
from tests.factories import make_paper, register

HUGE = 2**63


def bearer(name: str = "olga") -> dict:
    user = accounts.create_user(name, "olga password")
    return {"Authorization": f"Bearer {accounts.create_token(user)}"}


def test_saved_search_ids_beyond_the_database_integers(app, client):
    auth = bearer()
    for n in (HUGE, HUGE * 10**6, 2**63 - 1, 2**31):
        for method, url in [("GET", f"/api/searches/{n}/papers"),
                            ("DELETE", f"/api/searches/{n}"),
                            ("POST", f"/api/searches/{n}/seen")]:  # fmt: skip
            response = client.open(url, method=method, headers=auth)
            assert response.status_code in (400, 404), (url, response.status_code)
            assert "error" in response.get_json()
    register(client)
    assert client.post(f"/searches/{HUGE}/seen").status_code in (400, 404)


def test_deeply_nested_json_is_a_400(app, client):
    auth = bearer()
    deep = b"[" * 2000 + b"]" * 2000
    for url in ("/api/similar", "/api/library"):
        for body in (deep, b'{"text": ' + deep + b"}"):
            response = client.post(url, data=body, content_type="application/json", headers=auth)
            assert response.status_code == 400, (url, response.status_code)
            assert "deeper" in response.get_json()["error"]
    plain = client.post("/api/library", data=deep, content_type="text/plain", headers=auth)
    assert plain.status_code == 400


def test_nul_in_a_text_plain_library_import(app, client):
    auth = bearer()
    body = '{"version": 1, "tags": {"a\x00b": ["2401.01234"]}}'
    response = client.post("/api/library", data=body, content_type="text/plain", headers=auth)
    assert response.status_code == 400 and "NUL" in response.get_json()["error"]
    assert client.get("/api/tags", headers=auth).get_json()["tags"] == {}


def test_a_time_outside_the_calendar_in_a_library_import(app, client):
    auth = bearer()
    pid = make_paper(id="2603.00001").id
    item = {"id": pid, "added": "0001-01-01T00:00:00+14:00"}
    response = client.post("/api/library", json={"version": 1, "tags": {"t": [item]}},
                           headers=auth)  # fmt: skip
    assert response.status_code == 400 and "added" in response.get_json()["error"]


def test_a_long_category_on_the_searches_form(app, client):
    token = register(client)
    form = {"csrf_token": token, "q": "graphs", "name": "g", "category": "c" * 100}
    response = client.post("/searches", data=form)
    assert response.status_code == 302
    assert "arXiv category" in client.get("/searches").get_data(as_text=True)


def test_method_override_parameter_is_ignored(app, client):
    for url in ("/recommend?_method=POST", "/api/recommend?_method=POST", "/?_method=DELETE"):
        assert client.get(url).status_code < 500, url


def test_concurrent_first_uses_of_a_new_tag_name(app):
    """Many requests create the same tag at once: one tag, every request answered."""
    pids = [make_paper(id=f"2603.{i:05d}").id for i in range(1, 7)]
    auth = bearer()
    codes: list[int] = []

    def put(pid: str) -> None:
        response = app.test_client().put(f"/api/tags/fresh/papers/{pid}", headers=auth)
        codes.append(response.status_code)

    threads = [threading.Thread(target=put, args=(pids[i % 6],)) for i in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(code < 500 or code == 503 for code in codes), codes
    assert codes.count(200) >= 1
    assert app.extensions["sqlalchemy"].session().query(Tag).filter_by(name="fresh").count() == 1


def test_concurrent_saves_of_the_same_search_name(app):
    auth = bearer()
    codes: list[int] = []

    def save() -> None:
        response = app.test_client().post(
            "/api/searches", json={"name": "same", "q": "graphs"}, headers=auth
        )
        codes.append(response.status_code)

    threads = [threading.Thread(target=save) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(code in (201, 409, 503) for code in codes), codes
    assert codes.count(201) == 1


def test_health_says_ok_or_unavailable_and_nothing_else(app, client, caplog, monkeypatch):
    assert client.get("/api/health").get_json() == {"status": "ok"}

    def down(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("password=hunter2 host=db.internal"))

    monkeypatch.setattr(db.session, "execute", down)
    response = client.get("/api/health")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable"}
    assert "hunter2" not in response.get_data(as_text=True)
    assert "hunter2" in caplog.text  # the detail goes to the log
