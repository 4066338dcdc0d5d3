"""The whole user journey in a real browser (Playwright driving Debian's Chromium).

Register, log out and in, search, open a paper, tag it, find it in the tag, get
recommendations, mark one "not interested", log out; on a desktop and a phone-sized window.
Screenshots of every step are saved under the test's temporary directory.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sanity.engine import jobs
from tests import processes
from tests.factories import topical_papers
from tests.web.chromium import chromium

pytestmark = pytest.mark.slow  # on SQLite (the app fixture's default)


@pytest.fixture
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture
def server(app):
    """`sanity serve` on the test database, with papers on three topics and features built."""
    topical_papers(10)
    jobs.full_build()
    with processes.serving(app) as base:
        yield base


def journey(browser, base: str, shots: Path, width: int, height: int, user: str) -> None:
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    shots.mkdir(parents=True, exist_ok=True)
    step = iter(range(1, 100))

    def shot(name: str) -> None:
        page.screenshot(path=str(shots / f"{next(step):02d}-{name}.png"), full_page=True)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name}: horizontal scroll of {overflow}px at {width}px"

    page.goto(base + "/register")
    page.fill("input[name=username]", user)
    page.fill("input[name=email]", f"{user}@example.org")
    page.fill("input[name=password]", "a long password")
    page.fill("input[name=password2]", "a long password")
    shot("register")
    page.click("button[type=submit]:has-text('Sign up')")
    page.wait_for_url(base + "/")
    assert user in page.inner_text("header")
    shot("home-logged-in")

    page.click("form.logout button")
    page.wait_for_load_state()
    assert "Log in" in page.inner_text("header")
    page.goto(base + "/login")
    page.fill("input[name=username]", user.upper())  # names are case-insensitive
    page.fill("input[name=password]", "a long password")
    shot("login")
    page.click("button[type=submit]:has-text('Log in')")
    page.wait_for_url(base + "/")

    page.fill("header input[name=q]", "diffusion denoising")
    page.press("header input[name=q]", "Enter")
    page.wait_for_url(re.compile(r".*q=diffusion.*"))
    first = page.locator(".paper h2.title a").first
    assert "Diffusion" in page.inner_text(".papers") or "diffusion" in page.inner_text(".papers")
    shot("search")

    first.click()
    page.wait_for_url(re.compile(r".*/paper/.*"))
    pid = page.url.rsplit("/paper/", 1)[1]
    assert page.locator(".words li").count() > 0  # its TF-IDF words
    shot("paper")

    url_before = page.url
    box = page.locator(f".tagbox[data-pid='{pid}']").first
    box.locator("input[name=tag]").fill("denoise")
    box.locator("button[type=submit]").click()
    page.wait_for_selector(f".tagbox[data-pid='{pid}'] .chip[data-tag='denoise']")
    assert page.url == url_before  # no reload
    shot("tagged")

    page.goto(base + "/tags")
    assert "denoise" in page.inner_text("main")
    shot("tags")
    page.click("main a:has-text('denoise')")
    page.wait_for_load_state()
    assert pid in page.content()
    shot("tag-papers")

    page.goto(base + "/?rank=tags&tags=denoise")
    cards = page.locator(".papers .paper")
    assert cards.count() > 0
    assert pid not in [cards.nth(i).get_attribute("data-pid") for i in range(cards.count())]
    assert page.locator(".words li").count() > 0  # the words behind the model
    shot("recommendations")

    target = cards.first.get_attribute("data-pid")
    page.locator(f".tagbox[data-pid='{target}'] [data-not-interested]").first.click()
    page.wait_for_selector(f".tagbox[data-pid='{target}'] .chip.neg")
    shot("not-interested")

    page.click("form.logout button")
    page.wait_for_load_state()
    assert "Log in" in page.inner_text("header")
    shot("logged-out")
    context.close()
    assert not problems, problems  # no script errors, no CSP violations


def test_journey_on_desktop(browser, server, tmp_path):
    """The full flow works in a desktop-sized window."""
    journey(browser, server, tmp_path / "desktop", 1280, 900, "desk")


def test_journey_on_a_phone(browser, server, tmp_path):
    """The same flow works at 375 px wide without horizontal scrolling."""
    journey(browser, server, tmp_path / "phone", 375, 812, "phone")
