"""The plain home page: newest papers and the crawl status."""

from __future__ import annotations

from datetime import timedelta

from sanity.ingest.crawler import crawl
from tests.factories import fake_papers, make_paper


def test_home_lists_newest_papers_escaped(client, clock):
    """Titles with <, & and LaTeX are shown as text, newest first."""
    make_paper(title="Old paper", when=clock.now() - timedelta(days=2))
    make_paper(title="<script>alert(1)</script> & $\\alpha$", when=clock.now())
    page = client.get("/").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; $\\alpha$" in page
    assert "<script>alert" not in page
    assert page.index("alert(1)") < page.index("Old paper")
    assert "No crawl yet" in page


def test_home_shows_crawl_outcome(app, client, arxiv, clock):
    """The status line says how many papers the last crawl added, or why it failed."""
    arxiv.add(*fake_papers(3))
    crawl(clock)
    assert "added 3 papers" in client.get("/").get_data(as_text=True)
    app.config["ARXIV_API_URL"] = "http://127.0.0.1:9/api/query"
    app.config["ARXIV_MAX_RETRIES"] = 0
    crawl(clock)
    page = client.get("/").get_data(as_text=True)
    assert "failed: could not reach 127.0.0.1" in page


def test_home_paginates(client):
    """More papers than a page gives page links that keep working."""
    for _ in range(30):
        make_paper()
    first = client.get("/").get_data(as_text=True)
    assert "page 1 of 2" in first and "?page=2" in first
    second = client.get("/?page=2").get_data(as_text=True)
    assert second.count('class="paper"') == 5


def test_empty_database_explains_what_to_do(client):
    """With no papers, the page says they come with the first crawl or an import."""
    page = client.get("/").get_data(as_text=True)
    assert "No papers yet" in page and "sanity import" in page


def test_unknown_page_is_a_styled_404(client):
    """A missing page gets the site's 404 page, not a bare error."""
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "404 Not Found" in response.get_data(as_text=True)
    assert "Back to the newest papers" in response.get_data(as_text=True)
