"""One declaration per parameter: the API, the list page, the tag page and the feeds agree on
flags, tag lists and the days cap, over HTTP."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from sanity.accounts import users as accounts
from sanity.engine import jobs
from tests.factories import make_paper, register, topical_papers

TRUE = ["1", "true", "True", "TRUE", "yes", "Yes", "on", "ON"]
FALSE = ["0", "false", "False", "no", "NO", "off", "Off"]
BAD = ["maybe", "2", "y", "tru"]


def bearer(name: str = "ada") -> dict[str, str]:
    user = accounts.find_user(name) or accounts.create_user(name, "ada password")
    return {"Authorization": f"Bearer {accounts.create_token(user)}"}


def text(response) -> str:
    return response.get_data(as_text=True)


def cards(html: str) -> list[str]:
    return re.findall(r'class="paper(?: full)?" id="p-([^"]+)"', html)


def ids(response) -> list[str]:
    assert response.status_code == 200, text(response)
    return [p["id"] for p in response.get_json()["papers"]]


def test_include_tagged_accepts_every_spelling_and_refuses_others(client):
    """include_tagged=True (any case, yes/on/1) keeps the seeds; false spellings drop them."""
    topics = topical_papers(6)
    jobs.full_build()
    seeds = topics["graphs"][:2]
    url = "/api/recommend?limit=20&ids=" + ",".join(seeds)
    assert not set(seeds) & set(ids(client.get(url)))
    for value in TRUE:
        assert set(seeds) <= set(ids(client.get(f"{url}&include_tagged={value}"))), value
    for value in FALSE:
        assert not set(seeds) & set(ids(client.get(f"{url}&include_tagged={value}"))), value
    for value in BAD:
        response = client.get(f"{url}&include_tagged={value}")
        assert response.status_code == 400 and "include_tagged" in response.get_json()["error"]


def test_negative_flag_on_put_accepts_every_spelling(client):
    """PUT ...?negative=On marks not interested, =off positive, =maybe is a 400 naming it."""
    h = bearer()
    a, b = make_paper().id, make_paper().id
    body = client.put(f"/api/tags/t/papers/{a}?negative=On", headers=h).get_json()
    assert body["negative"] == {"t": [a]}
    body = client.put(f"/api/tags/t/papers/{b}?negative=off", headers=h).get_json()
    assert body["tags"]["t"] == [b]
    response = client.put(f"/api/tags/t/papers/{b}?negative=maybe", headers=h)
    assert response.status_code == 400 and "negative" in response.get_json()["error"]


def test_hide_and_tag_page_negative_flags_on_pages(client):
    """hide=TRUE on the list and negative=Yes on the tag page work; bad values are 400 pages."""
    a, b = make_paper(title="Alpha graph").id, make_paper(title="Beta graph").id
    token = register(client, "hana")
    client.put(f"/api/tags/t/papers/{a}", headers={"X-CSRFToken": token})
    client.put(f"/api/tags/t/papers/{b}?negative=yes", headers={"X-CSRFToken": token})
    c = make_paper(title="Gamma graph").id
    assert cards(text(client.get("/?hide=TRUE"))) == [c]
    assert set(cards(text(client.get("/?hide=off")))) == {a, b, c}
    assert cards(text(client.get("/tags/t?negative=Yes"))) == [b]
    assert cards(text(client.get("/tags/t?negative=0"))) == [a]
    for url, name in [("/?hide=maybe", "hide"), ("/tags/t?negative=nah", "negative")]:
        response = client.get(url)
        assert response.status_code == 400 and response.mimetype == "text/html", url
        assert f"{name} must be one of 1/0, true/false, yes/no, on/off" in text(response)


def test_tags_repeated_or_comma_separated_mean_the_same(client):
    """tags=a&tags=b and tags=a,b recommend from both tags, on the API as on the list page."""
    topics = topical_papers(8)
    jobs.full_build()
    h = bearer()
    for pid in topics["robots"][:3]:
        client.put(f"/api/tags/robots/papers/{pid}", headers=h)
    for pid in topics["diffusion"][:3]:
        client.put(f"/api/tags/diffusion/papers/{pid}", headers=h)
    both = ids(client.get("/api/recommend?tags=robots,diffusion&limit=10", headers=h))
    repeated = ids(client.get("/api/recommend?tags=robots&tags=diffusion&limit=10", headers=h))
    assert repeated == both
    assert ids(client.get("/api/recommend?tags=robots&limit=10", headers=h)) != both
    assert set(topics["diffusion"][3:]) & set(both) and set(topics["robots"][3:]) & set(both)


def test_days_has_one_cap_everywhere(client):
    """days up to 100000 works on the API, the list page and the feeds; above it is a 400."""
    make_paper()
    h = bearer()
    client.put(f"/api/tags/t/papers/{make_paper().id}", headers=h)
    saved = client.post("/api/searches", json={"name": "s", "q": "x"}, headers=h).get_json()
    key = accounts.feed_key(accounts.find_user("ada"))
    feeds = [f"/feeds/{key}/tags/t.atom", f"/feeds/{key}/searches/{saved['id']}.atom"]
    urls = ["/api/papers", "/", *feeds]
    for url in urls:
        for days in ("5000", "100000", "0.5"):
            assert client.get(f"{url}?days={days}").status_code == 200, (url, days)
        for days in ("100001", "0", "-1", "soon", "inf"):
            response = client.get(f"{url}?days={days}")
            assert response.status_code == 400, (url, days)
            assert "days must be" in text(response), (url, days)
    assert client.get("/?days=latest").status_code == 200
    assert client.get("/?days=LATEST").status_code == 200
    assert client.get("/api/papers?days=latest").status_code == 400


def test_hide_applies_before_paging_in_search(client, clock):
    """/?q=...&hide=1 shows a full page of untagged matches and the right total."""
    found = [
        make_paper(title=f"Graph study {i}", when=clock.now() - timedelta(hours=i)).id
        for i in range(40)
    ]
    token = register(client, "ivy")
    tagged = found[::4]  # 10 of them, spread over every page
    for pid in tagged:
        client.put(f"/api/tags/t/papers/{pid}", headers={"X-CSRFToken": token})
    first = text(client.get("/?q=graph&hide=1"))
    shown = cards(first)
    assert len(shown) == 25 and not set(shown) & set(tagged)
    assert re.search(r'<p class="count">30 papers</p>', first)
    rest = cards(text(client.get("/?q=graph&hide=1&page=2")))
    assert len(rest) == 5 and not set(rest) & set(tagged + shown)


@pytest.mark.parametrize(
    "url, name",
    [
        ("/?page=0", "page"),
        ("/?page=x", "page"),
        ("/tags/t?page=0", "page"),
        ("/?C=nan", "C"),
        ("/?tags=" + "x" * 65, "tags"),
    ],
)
def test_pages_refuse_what_the_api_refuses(client, url, name):
    """The list and tag pages share the API's field types (a 400 page naming the parameter)."""
    token = register(client, "jo")
    client.put(f"/api/tags/t/papers/{make_paper().id}", headers={"X-CSRFToken": token})
    response = client.get(url)
    assert response.status_code == 400 and name in text(response)


def test_pasted_text_for_similar_papers_says_what_is_wrong_with_it(client):
    """An empty, blank or missing text is "required"; only a long one is "too long"."""
    for body in ({"text": ""}, {"text": "  \n "}, {}):
        response = client.post("/api/similar", json=body)
        assert response.status_code == 400, body
        assert "is required" in text(response) and "too long" not in text(response), body
    response = client.post("/api/similar", json={"text": "x " * 10_001})
    assert response.status_code == 400 and "too long" in text(response)


def test_a_body_sent_without_the_json_content_type_is_told_so(client):
    """`curl -d '{"text": ...}'` sends application/x-www-form-urlencoded: the answer names the
    content type instead of "text is required"."""
    for kind in ("application/x-www-form-urlencoded", "text/plain", None):
        response = client.post("/api/similar", data='{"text": "graph networks"}', content_type=kind)
        assert response.status_code == 400, kind
        assert "Content-Type: application/json" in text(response), kind
