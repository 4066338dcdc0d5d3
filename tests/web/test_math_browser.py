"""Math in titles and abstracts is typeset by KaTeX in a real browser (Playwright driving
Debian's Chromium), under the site's strict Content-Security-Policy.

The papers are 25 real math-heavy arXiv abstracts (tests/fixtures/math_papers.jsonl: inline
$...$, displayed $$...$$ and \\[...\\], \\(...\\), escaped \\$) and one hostile paper.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from sanity.engine import jobs
from tests import processes
from tests.factories import BASE_TIME, make_paper
from tests.web.chromium import chromium

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]

FIXTURE = Path(__file__).parents[1] / "fixtures" / "math_papers.jsonl"
HOSTILE_ID = "2699.00001"
HOSTILE_TITLE = "Inert $<img src=x onerror=alert(1)>$ and $\\href{javascript:alert(2)}{click}$"
HOSTILE_ABSTRACT = (
    "It costs \\$5 or $10 (unmatched $x). <script>alert(3)</script> "
    "$\\def\\evil{x}\\evil$ $\\htmlClass{evil}{z}$ $\\url{https://example.org}$ "
    "$\\includegraphics{x.png}$ $\\frac{1}{$ and a fine one: $a^2+b^2=c^2$."
)
REFUSED = ["\\def\\evil{x}\\evil", "\\htmlClass{evil}{z}", "\\url{https://example.org}",
           "\\includegraphics{x.png}", "\\href{javascript:alert(2)}{click}"]  # fmt: skip

WATCH_CSP = """window.cspViolations = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));"""


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture
def server(app):
    """`sanity serve` with the math papers (30 a page, so one page holds them all)."""
    for n, line in enumerate(FIXTURE.read_text(encoding="utf-8").splitlines()):
        paper = json.loads(line)
        make_paper(
            id=paper["id"],
            title=paper["title"],
            abstract=paper["abstract"],
            authors=paper["authors"],
            categories=paper["categories"],
            when=BASE_TIME + timedelta(hours=n),
        )
    make_paper(id=HOSTILE_ID, title=HOSTILE_TITLE, abstract=HOSTILE_ABSTRACT,
               when=datetime.fromisoformat("2026-11-30T00:00:00+00:00"))  # fmt: skip
    jobs.full_build()
    with processes.serving(app, PAPERS_PER_PAGE=30) as base:
        yield base


def open_page(browser, url: str, width: int):
    """A page at `url`, math typeset; returns (page, problems) with console errors, script
    errors, dialogs and CSP violations collected."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("dialog", lambda d: (problems.append("dialog: " + d.message), d.dismiss()))
    page.add_init_script(WATCH_CSP)
    page.goto(url)
    page.wait_for_selector("html.math-done")
    page.evaluate("document.fonts.ready")
    return page, problems


def check_clean(page, problems: list[str], width: int) -> None:
    problems += page.evaluate("window.cspViolations")
    assert not problems, problems  # no script errors, no CSP violations, no dialog
    assert page.evaluate("document.scrollingElement.scrollWidth") <= width
    assert page.locator("img[src='x'], main script, .evil, a[href^='javascript']").count() == 0


@pytest.mark.parametrize("width", [1280, 375])
def test_the_list_typesets_math(browser, server, width):
    """Every math-heavy abstract on the list gets KaTeX output; display math included; the
    page fits a phone; no CSP violation or console error."""
    page, problems = open_page(browser, server + "/", width)
    cards = page.locator(".papers .paper")
    assert cards.count() == 26
    typeset = page.evaluate(
        "Array.from(document.querySelectorAll('.papers .paper'))"
        ".filter((c) => c.querySelector('.abstract .katex')).length"
    )
    assert typeset >= 25
    assert page.locator(".abstract .math-display .katex-display").count() >= 5  # $$ and \\[
    assert page.locator(".title .katex").count() >= 4
    # KaTeX really laid it out: fractions are stacked, fonts are the vendored ones.
    assert page.locator(".abstract .katex .mfrac").count() > 0
    assert page.evaluate("document.fonts.check('16px KaTeX_Main')")
    # Display math wider than the card scrolls inside its box, reachable by keyboard.
    unreachable = page.evaluate(
        "Array.from(document.querySelectorAll('.math-display'))"
        ".filter((b) => b.scrollWidth > b.clientWidth + 1 && b.tabIndex !== 0).length"
    )
    assert unreachable == 0
    check_clean(page, problems, width)
    page.context.close()


def test_hostile_text_stays_inert(browser, server):
    """Markup stays text, refused commands and broken formulas stay as source, \\$ and an
    unmatched $ are not math; the valid formula beside them is typeset."""
    page, problems = open_page(browser, server + f"/paper/{HOSTILE_ID}", 375)
    title = page.locator("h1.title")
    abstract = page.locator(".abstract")
    for part in REFUSED:
        assert part in title.inner_text() + abstract.inner_text()
    assert "<script>alert(3)</script>" in abstract.inner_text()
    assert "It costs \\$5 or $10 (unmatched $x)." in abstract.inner_text()
    assert "$\\frac{1}{$" in abstract.inner_text()  # does not parse: left as written
    assert abstract.locator(".katex").count() == 1
    assert abstract.locator("annotation").text_content() == "a^2+b^2=c^2"
    # "<img ...>" between dollars is valid TeX: typeset as symbols, never an element.
    assert title.locator(".katex").count() == 1
    check_clean(page, problems, 375)
    page.context.close()


@pytest.mark.parametrize("width", [1280, 375])
def test_the_paper_page_typesets_math(browser, server, width):
    """The paper page typesets its title, abstract and the titles of similar papers."""
    first = json.loads(FIXTURE.read_text(encoding="utf-8").splitlines()[0])
    page, problems = open_page(browser, server + f"/paper/{first['id']}", width)
    assert page.locator(".abstract .katex").count() > 0
    check_clean(page, problems, width)
    page.context.close()
