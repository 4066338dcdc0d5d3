"""Every page passes axe-core (WCAG 2.1 A/AA and axe's best practices) in a real browser.

Playwright drives Debian's Chromium against `sanity serve`; axe.min.js is the copy that the
`axe-playwright-python` package ships. Each page is checked logged out and logged in (with a
tag, a saved search and an API token, so /profile shows its table), at 1280 and 375 px wide.
"""

from __future__ import annotations

from pathlib import Path

import axe_playwright_python
import pytest

from sanity.engine import jobs
from tests import processes
from tests.factories import MATH_ABSTRACT, MATH_TITLE, make_paper, make_strip, topical_papers
from tests.web.chromium import chromium

AXE = Path(axe_playwright_python.__file__).with_name("axe.min.js")
WIDTHS = [(1280, 900), (375, 812)]
PUBLIC = ["/", "/?q=diffusion", "/?rank=popular", "/stats", "/about", "/login", "/register",
          "/reset", "/nope"]  # fmt: skip
MEMBER = ["/", "/?q=diffusion", "/?rank=tags&tags=all", "/?rank=popular", "/stats", "/about",
          "/tags", "/tags/reading", "/searches", "/profile"]  # fmt: skip

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture
def server(app):
    """`sanity serve` on the test database, with papers on three topics and features built;
    the first paper has a thumbnail strip."""
    ids = topical_papers(4)
    make_paper(title=MATH_TITLE, abstract=MATH_ABSTRACT)  # typeset by KaTeX on every list
    jobs.full_build()
    make_strip(next(iter(ids.values()))[0])
    with processes.serving(app, THUMBNAILS="true") as base:
        yield base, next(iter(ids.values()))[0]


def axe(page) -> list[str]:
    """axe-core's violations on the loaded page, one line per rule."""
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(" ".join(n["target"]) for n in v["nodes"][:5])
        for v in result["violations"]
    ]


def sign_up(page, base: str, pid: str) -> None:
    """Register through the form, then tag a paper, save a search and make an API token."""
    page.goto(base + "/register")
    page.fill("input[name=username]", "axel")
    page.fill("input[name=password]", "a long password")
    page.fill("input[name=password2]", "a long password")
    page.click("button[type=submit]:has-text('Sign up')")
    page.wait_for_url(base + "/")
    token = page.get_attribute("meta[name=csrf-token]", "content")
    headers = {"X-CSRFToken": token}
    assert page.request.put(f"{base}/api/tags/reading/papers/{pid}", headers=headers).ok
    assert page.request.post(f"{base}/api/searches", headers=headers,
                             data={"name": "diff", "q": "diffusion"}).ok  # fmt: skip
    page.goto(base + "/profile")
    form = page.locator("form:has(button:has-text('Create a token'))")
    form.locator("input[name=name]").fill("script")
    form.locator("input[name=current]").fill("a long password")  # re-authentication
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()


def test_every_page_passes_axe(browser, server):
    """Zero axe violations on every page, logged out and in, on a desktop and a phone."""
    base, pid = server
    context = browser.new_context()
    sign_up(context.new_page(), base, pid)
    member = context.storage_state()
    context.close()
    found: list[str] = []
    for state, paths, storage in (("out", PUBLIC, None), ("in", MEMBER, member)):
        for width, height in WIDTHS:
            viewport = {"width": width, "height": height}
            context = browser.new_context(viewport=viewport, storage_state=storage)
            page = context.new_page()
            for path in paths + [f"/paper/{pid}"]:
                page.goto(base + path)
                page.wait_for_selector("html.math-done", state="attached")  # KaTeX has run
                found += [f"{state} {width}px {path}: {line}" for line in axe(page)]
            context.close()
    assert not found, f"{len(found)} violations:\n" + "\n".join(found)
