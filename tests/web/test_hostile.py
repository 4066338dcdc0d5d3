"""Hostile input on every route: XSS, SQL/FTS metacharacters, path tricks, bad bytes, CSRF,
cross-user access, open redirects. Each gets a clean 4xx or is rendered inert; nothing is lost."""

from __future__ import annotations

import re

import feedparser
import pytest

from sanity.accounts import users as accounts
from sanity.engine import jobs
from tests.factories import csrf_from, make_paper

XSS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "<svg/onload=alert(1)>",
    "javascript:alert(1)",
    "</title><script>alert(1)</script>",
    "<iframe src=//evil.example>",
    "{{7*7}}{% raw %}",
    "&lt;script&gt;",
]
METACHARACTERS = [
    "' OR 1=1 --", '"; DROP TABLE papers; --', "%", "_", "\\", "NEAR(a b)", "a* OR b*",
    "title:x", "^x", "(((", '"""', "-", "*", "NOT", "{x}", "\x00", "\ufffd",
]  # fmt: skip
PATH_TRICKS = [
    "../../etc/passwd", "..%2f..%2fetc%2fpasswd", "%2e%2e/%2e%2e/etc/passwd", "2401.01234/../x",
    "2401.01234%00", "%252e%252e", "....//....//", "2401.01234;rm -rf /", "%3Cscript%3E",
]  # fmt: skip
PAGES = ["/", "/?rank=random", "/?q=x", "/stats", "/about", "/tags", "/searches", "/profile"]


def no_live_markup(html: str, payload: str) -> None:
    """The payload never appears as live markup (only escaped)."""
    for tag in ("<script>alert", "<img src=x", "<svg/onload", "<iframe"):
        if tag in payload:
            assert tag not in html, f"{payload!r} rendered live"


@pytest.mark.parametrize("payload", XSS)
def test_paper_fields_are_inert_everywhere(client, payload):
    """Titles, abstracts and authors from arXiv with markup are escaped on every page and feed."""
    paper = make_paper(title=f"T {payload}", abstract=f"A {payload}", authors=[f"X {payload}"])
    jobs.full_build()
    for url in ["/", f"/paper/{paper.id}", f"/?q={paper.id}", f"/?rank=similar&pid={paper.id}"]:
        response = client.get(url)
        assert response.status_code == 200, url
        no_live_markup(response.get_data(as_text=True), payload)
    api = client.get(f"/api/papers/{paper.id}").get_json()
    assert api["title"] == f"T {payload}"  # JSON carries the text as it is
    atom = client.get("/feeds/category/cs.LG.atom").data
    parsed = feedparser.parse(atom)
    assert not parsed.bozo and no_live_markup(atom.decode(), payload) is None


@pytest.mark.both_databases
@pytest.mark.parametrize("payload", XSS)
def test_tag_names_and_searches_are_inert(client, payload, login):
    """User-chosen tag names and search queries render escaped."""
    token = login(client, "mallory")
    paper = make_paper()
    name = payload.replace("/", "").replace(",", "")[:64] or "x"
    response = client.put(f"/api/tags/{name}/papers/{paper.id}", headers={"X-CSRFToken": token})
    assert response.status_code in (200, 400, 404)
    for url in ["/tags", "/", f"/paper/{paper.id}", "/?q=" + payload]:
        page = client.get(url, query_string=None)
        assert page.status_code in (200, 400), url
        no_live_markup(page.get_data(as_text=True), payload)


@pytest.mark.parametrize("payload", XSS[:3])
def test_hostile_usernames_are_refused(client, payload):
    """Usernames with markup never get created."""
    token = csrf_from(client.get("/register").get_data(as_text=True))
    response = client.post("/register", data={"csrf_token": token, "username": payload,
                                              "password": "long password",
                                              "password2": "long password"})  # fmt: skip
    assert response.status_code == 400 and accounts.find_user(payload) is None
    no_live_markup(response.get_data(as_text=True), payload)


@pytest.mark.both_databases
@pytest.mark.parametrize("payload", METACHARACTERS)
def test_metacharacters_in_every_query_parameter(client, payload):
    """SQL and FTS metacharacters in parameters give 200 or a clean 400, and lose nothing."""
    paper = make_paper()
    for url, param in [("/api/search", "q"), ("/api/papers", "category"), ("/", "q"),
                       ("/", "category"), ("/api/recommend", "ids"), ("/", "tags")]:  # fmt: skip
        response = client.get(url, query_string={param: payload})
        assert response.status_code in (200, 400, 401), (url, param, response.status_code)
    assert client.get(f"/api/papers/{paper.id}").status_code == 200  # nothing dropped


@pytest.mark.parametrize("trick", PATH_TRICKS)
def test_path_tricks_in_ids(client, trick):
    """Ids with ../, encoded slashes and NULs are 400/404, never a file or a 500."""
    make_paper(id="2401.01234")
    for url in [f"/api/papers/{trick}", f"/paper/{trick}", f"/api/papers/{trick}/similar",
                f"/static/{trick}"]:  # fmt: skip
        response = client.get(url)
        assert response.status_code in (400, 404, 308), (url, response.status_code)
        assert b"root:" not in response.data


@pytest.mark.both_databases
def test_invalid_utf8_and_oversized_bodies(client):
    """Invalid UTF-8 is refused or replaced; bodies over the limit are 413 JSON."""
    response = client.post("/api/similar", data=b'{"text": "\xff\xfe"}',
                           content_type="application/json")  # fmt: skip
    assert response.status_code in (400, 503)
    response = client.get("/api/search?q=%ff%fe%fd")
    assert response.status_code in (200, 400)
    big = client.post("/api/similar", data="x" * 2_000_000, content_type="application/json")
    assert big.status_code == 413 and big.is_json


def test_csrf_is_required_for_every_browser_write(client, login):
    """Without the token, session writes are refused (forms and JSON)."""
    login(client, "oscar")
    paper = make_paper()
    attempts = [
        ("post", "/logout", {}), ("post", "/profile", {"email": "a@b.cd"}),
        ("post", "/profile/password", {}), ("post", "/profile/tokens", {}),
        ("post", "/account/delete", {"password": "x"}), ("post", "/feeds/key", {}),
        ("post", "/searches", {"q": "x"}),
    ]  # fmt: skip
    for method, url, data in attempts:
        assert getattr(client, method)(url, data=data).status_code == 400, url
    assert client.put(f"/api/tags/t/papers/{paper.id}").status_code == 400
    assert client.delete("/api/tags/t").status_code == 400
    assert client.get("/api/tags").get_json() == {"tags": {}, "negative": {}}


@pytest.mark.both_databases
def test_one_user_cannot_touch_anothers_things(client, login):
    """Tags, tokens, saved searches and feeds of one user are out of reach of another."""
    alice = accounts.create_user("alice", "alice password")
    paper = make_paper()
    a_token = accounts.create_token(alice)
    a = {"Authorization": f"Bearer {a_token}"}
    client.put(f"/api/tags/private/papers/{paper.id}", headers=a)
    sid = client.post("/api/searches", json={"q": "x", "name": "s"}, headers=a).get_json()["id"]
    token = login(client, "bob")
    assert client.get("/api/tags").get_json() == {"tags": {}, "negative": {}}
    assert client.delete("/api/tags/private", headers={"X-CSRFToken": token}).status_code == 404
    assert client.get(f"/api/searches/{sid}/papers").status_code == 404
    assert client.delete(f"/api/searches/{sid}", headers={"X-CSRFToken": token}).status_code == 404
    alice_token_id = alice.tokens[0].id
    response = client.post(f"/profile/tokens/{alice_token_id}/revoke", data={"csrf_token": token})
    assert response.status_code == 404
    key = accounts.feed_key(alice)
    assert key not in client.get("/profile").get_data(as_text=True)
    assert client.get("/api/tags", headers=a).get_json()["tags"] == {"private": [paper.id]}


@pytest.mark.parametrize(
    "target",
    ["//evil.example", "https://evil.example", "/\\evil.example", "http:evil.example",
     "javascript:alert(1)", "\t//evil.example", "/%2f%2fevil.example"],
)  # fmt: skip
def test_no_open_redirect_after_login(client, target):
    """?next= never sends a user to another site."""
    accounts.create_user("nina", "nina password")
    token = csrf_from(client.get("/login").get_data(as_text=True))
    response = client.post("/login", query_string={"next": target},
                           data={"csrf_token": token, "username": "nina",
                                 "password": "nina password"})  # fmt: skip
    location = response.headers["Location"]
    assert response.status_code == 302
    assert not re.match(r"^(https?:)?//|^[a-z]+:", location, re.I), location
    assert "evil.example" not in location.split("?")[0] or location.startswith("/")
