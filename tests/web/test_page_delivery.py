"""How pages are delivered: compressed when the client accepts it, each with a meta description."""

from __future__ import annotations

import gzip
import json
import re
from html import unescape

import brotli
import pytest

from tests.factories import make_paper, register

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def description(html: str) -> str:
    match = re.search(r'<meta name="description" content="([^"]*)">', html)
    assert match, "no meta description"
    return unescape(match.group(1))


def untoken(html: str) -> str:
    """A page without its CSRF tokens (signed anew on every request)."""
    return re.sub(r'(csrf-token" content|csrf_token" type="hidden" value)="[^"]+"', "", html)


def test_every_page_has_a_meta_description(client):
    """Each page says what it is in a meta description; a paper's is its title and abstract."""
    paper = make_paper(title="Denoising & <diffusion>", abstract="We study noise. " * 40)
    for path in ["/", "/?q=noise", "/stats", "/about", "/login", "/register", "/reset"]:
        assert len(description(client.get(path).get_data(as_text=True))) > 20, path
    text = description(client.get(f"/paper/{paper.id}").get_data(as_text=True))
    assert text.startswith("Denoising & <diffusion>: We study noise.")
    assert len(text) <= 300
    assert "arXiv papers matching noise" in description(client.get("/?q=noise").text)
    register(client, "mia")
    for path in ["/tags", "/searches", "/profile"]:
        assert description(client.get(path).get_data(as_text=True)), path


@pytest.mark.parametrize("encoding, decompress", [("gzip", gzip.decompress),
                                                  ("br", brotli.decompress)])  # fmt: skip
def test_pages_are_compressed_when_the_client_accepts_it(client, encoding, decompress):
    make_paper()
    plain = client.get("/")
    assert "Content-Encoding" not in plain.headers  # the client asked for none
    packed = client.get("/", headers={"Accept-Encoding": encoding})
    assert packed.headers["Content-Encoding"] == encoding
    assert "Accept-Encoding" in packed.headers["Vary"]
    assert int(packed.headers["Content-Length"]) == len(packed.data) < len(plain.data) / 2
    assert untoken(decompress(packed.data).decode()) == untoken(plain.get_data(as_text=True))
    assert decompress(packed.data).startswith(b"<!doctype html>")


def test_static_files_keep_etags_and_304s_when_compressed(client):
    def get(**headers):
        response = client.get("/static/style.css", headers=headers)
        response.get_data()
        response.close()  # the file
        return response

    first = get(**{"Accept-Encoding": "br"})
    assert first.status_code == 200 and first.headers["Content-Encoding"] == "br"
    assert int(first.headers["Content-Length"]) == len(first.data)
    again = get(**{"Accept-Encoding": "br", "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    plain = get()
    assert "Content-Encoding" not in plain.headers
    assert brotli.decompress(first.data) == plain.data


def test_the_library_export_stays_streamed_when_compressed(client):
    """The export is a stream: compression works chunk by chunk and never buffers it whole."""
    make_paper(id="2401.00001")
    token = register(client, "zed")
    client.put("/api/tags/t/papers/2401.00001", headers={"X-CSRFToken": token})
    plain = client.get("/api/library")
    packed = client.get("/api/library", headers={"Accept-Encoding": "br"})
    assert packed.is_streamed
    assert packed.headers["Content-Encoding"] == "br"
    assert "Content-Length" not in packed.headers
    assert json.loads(brotli.decompress(packed.data)) == json.loads(plain.data)


def test_small_responses_are_not_compressed(client):
    response = client.get("/api/health", headers={"Accept-Encoding": "gzip, br"})
    assert "Content-Encoding" not in response.headers


def test_pages_of_a_logged_in_user_are_not_compressed(client):
    """A logged-in page holds a CSRF token next to what the user typed: it goes out plain (no
    compression side channel), while the same user's JSON and anonymous pages are compressed."""
    for _ in range(5):
        make_paper()
    register(client, "ida")
    page = client.get("/?q=paper", headers={"Accept-Encoding": "gzip, br"})
    assert page.status_code == 200 and "Content-Encoding" not in page.headers
    api = client.get("/api/papers?per_page=5", headers={"Accept-Encoding": "gzip"})
    assert api.headers["Content-Encoding"] == "gzip"
    client.post("/logout", data={"csrf_token": untoken_value(page.get_data(as_text=True))})
    anonymous = client.get("/?q=paper", headers={"Accept-Encoding": "gzip"})
    assert anonymous.headers["Content-Encoding"] == "gzip"


def untoken_value(html: str) -> str:
    return re.search(r'csrf-token" content="([^"]+)"', html).group(1)
