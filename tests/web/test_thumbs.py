"""/thumbs/ID and the strips on the paper cards (THUMBNAILS=true)."""

from __future__ import annotations

import re

import pytest

from sanity.ingest.thumbnails import thumbs_dir
from tests.factories import make_paper, make_strip


def images(html: str) -> list[str]:
    """The <img> tags on a page."""
    return re.findall(r"<img [^>]*>", html)


@pytest.fixture
def on(app):
    app.config["THUMBNAILS"] = True
    return app


def test_a_strip_is_served_with_cache_headers(on, client):
    """/thumbs/ID answers the stored WebP, cacheable, with an ETag that gives a 304."""
    make_paper(id="2611.00101")
    strip = make_strip("2611.00101")
    response = client.get("/thumbs/2611.00101")
    assert response.status_code == 200
    assert response.mimetype == "image/webp"
    assert response.data == strip.data
    assert response.cache_control.public and response.cache_control.max_age == 86400
    again = client.get("/thumbs/2611.00101", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


def test_old_style_ids_and_versions_are_served(on, client):
    """An old-style id (with its slash) and an id with a version reach the same strip."""
    make_paper(id="hep-th/9901001")
    strip = make_strip("hep-th/9901001", pages=2)
    for path in ["/thumbs/hep-th/9901001", "/thumbs/hep-th/9901001v3"]:
        response = client.get(path)
        assert response.status_code == 200 and response.data == strip.data, path


def test_missing_strips_and_bad_ids_are_4xx(on, client):
    """No strip is a 404; a non-id (path traversal included) is a 400 that touches no file."""
    make_paper(id="2611.00102")
    secret = thumbs_dir(on.config["DATA_DIR"]).parent / "secret.webp"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_bytes(b"not for you")
    assert client.get("/thumbs/2611.00102").status_code == 404
    assert client.get("/thumbs/2611.99999").status_code == 404
    for path in ["/thumbs/../secret", "/thumbs/..%2Fsecret", "/thumbs/x/../../secret",
                 "/thumbs/2611.00102.webp", "/thumbs/%00"]:  # fmt: skip
        response = client.get(path)
        assert response.status_code in (400, 404), path
        assert b"not for you" not in response.data


def test_no_strip_is_served_with_thumbnails_off(app, client):
    """With THUMBNAILS off, even a strip left on disk is a 404."""
    make_paper(id="2611.00103")
    make_strip("2611.00103")
    assert client.get("/thumbs/2611.00103").status_code == 404


def test_cards_show_a_lazy_strip_only_for_papers_with_one(on, client):
    """The list and the paper page show a lazy <img> with its size for a paper with a strip,
    and none for a paper without."""
    make_paper(id="2611.00104", title="With a strip")
    make_paper(id="2611.00105", title="Without")
    strip = make_strip("2611.00104", pages=3)
    for page in ["/", "/paper/2611.00104"]:
        found = images(client.get(page).get_data(as_text=True))
        assert len(found) == 1, (page, found)
        img = found[0]
        assert 'src="/thumbs/2611.00104"' in img and 'loading="lazy"' in img and 'alt=""' in img
        assert f'width="{strip.width}"' in img and f'height="{strip.height}"' in img
    assert images(client.get("/paper/2611.00105").get_data(as_text=True)) == []


def test_cards_request_no_image_with_thumbnails_off(app, client):
    """With THUMBNAILS off no page links any strip, even when strips exist."""
    make_paper(id="2611.00106")
    make_strip("2611.00106")
    for page in ["/", "/paper/2611.00106"]:
        assert images(client.get(page).get_data(as_text=True)) == [], page
