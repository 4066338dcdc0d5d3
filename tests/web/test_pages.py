"""The browser pages: the paper list and its rank modes, paper pages, tags, stats, about, errors."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest

from sanity.engine import jobs
from sanity.models import CrawlRun
from tests.factories import make_paper, topical_papers

HOSTILE = '<script>alert("x")</script> & $\\alpha<\\beta$ "quoted"'


def text(response) -> str:
    return response.get_data(as_text=True)


def cards(html: str) -> list[str]:
    """The paper ids of the cards on a page, in order."""
    return re.findall(r'class="paper(?: full)?" id="p-([^"]+)"', html)


def links(html: str, pattern: str) -> list[dict]:
    """Query parameters of every link whose href matches `pattern`."""
    hrefs = [unescape(h) for h in re.findall(r'href="([^"]*)"', html) if re.search(pattern, h)]
    return [{k: v[0] for k, v in parse_qs(urlsplit(h).query).items()} for h in hrefs]


def tag(client, token: str, name: str, pid: str, negative: bool = False):
    url = f"/api/tags/{name}/papers/{pid}" + ("?negative=1" if negative else "")
    response = client.put(url, headers={"X-CSRFToken": token})
    assert response.status_code == 200, text(response)


# ---- every page ----


@pytest.mark.parametrize("path", ["/", "/?rank=random", "/?q=paper", "/stats", "/about"])
def test_public_pages_render(client, path):
    """Each public page answers 200 with the site's header, nav and arXiv credit."""
    make_paper()
    page = text(client.get(path))
    for expected in ('class="search"', "Recommended", "/tags", "/stats", "/about"):
        assert expected in page
    assert "Thank you to arXiv for use of its open access interoperability." in page


def test_pages_have_no_inline_script_or_style(client, login):
    """No inline <script>, style= or on*= attributes anywhere (the CSP forbids them)."""
    paper = make_paper()
    token = login(client, "ivy")
    tag(client, token, "t", paper.id)
    for path in ["/", f"/paper/{paper.id}", "/tags", "/tags/t", "/stats", "/about", "/nope"]:
        page = text(client.get(path))
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), path
        assert not re.search(r"\sstyle=", page), path
        assert not re.search(r"\son[a-z]+=", page), path


# ---- the list: time, filters, windows, pagination ----


def test_home_lists_newest_first_and_escapes_hostile_text(client, clock):
    """Titles, abstracts and authors with <, & and LaTeX are shown as text, newest first."""
    old = make_paper(title="Old paper", when=clock.now() - timedelta(days=2))
    new = make_paper(title=HOSTILE, abstract=HOSTILE, authors=[HOSTILE], when=clock.now())
    page = text(client.get("/"))
    assert cards(page) == [new.id, old.id]
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; $\\alpha&lt;\\beta$" in page


def test_card_links_to_paper_arxiv_pdf_similar_and_author_search(client):
    """A card links its page, arXiv's abstract page, the PDF, similar papers and each author."""
    paper = make_paper(version=3, authors=["Ada Lovelace", "Alan Turing"])
    page = text(client.get("/"))
    assert f'href="/paper/{paper.id}"' in page
    assert f'href="https://arxiv.org/abs/{paper.id}v3"' in page
    assert f'href="https://arxiv.org/pdf/{paper.id}v3"' in page
    assert {"rank": "similar", "pid": paper.id} in links(page, "rank=similar")
    assert {"q": '"Ada Lovelace"'} in links(page, r"\?q=")
    assert 'class="abstract clamp"' in page
    assert {"category": "cs.LG"} in links(page, r"\?category=")


def test_random_mode_lists_the_papers(client):
    """rank=random shows the papers in some order and offers another shuffle."""
    ids = {make_paper().id for _ in range(3)}
    page = text(client.get("/?rank=random"))
    assert set(cards(page)) == ids and "Shuffle again" in page


@pytest.mark.both_databases
def test_category_filter(client):
    """category= keeps papers listing that category, primary or cross-listed."""
    lg = make_paper(categories=["cs.LG"])
    cross = make_paper(categories=["cs.CV", "cs.LG"])
    cv = make_paper(categories=["cs.CV"])
    assert set(cards(text(client.get("/?category=cs.LG")))) == {lg.id, cross.id}
    page = text(client.get("/?category=cs.CV"))
    assert set(cards(page)) == {cross.id, cv.id}
    assert '<option value="cs.CV" selected>' in page


@pytest.mark.both_databases
def test_time_windows(client, clock):
    """days=N keeps the last N days; days=latest keeps the day up to the newest paper."""
    now = clock.now()
    today = make_paper(when=now - timedelta(hours=2))
    four = make_paper(when=now - timedelta(days=4))
    old = make_paper(when=now - timedelta(days=40))
    assert cards(text(client.get("/?days=7"))) == [today.id, four.id]
    assert cards(text(client.get("/?days=30"))) == [today.id, four.id]
    assert cards(text(client.get("/?days=latest"))) == [today.id]
    assert cards(text(client.get("/"))) == [today.id, four.id, old.id]


@pytest.mark.both_databases
def test_latest_day_follows_the_newest_paper(client, clock):
    """With nothing announced for days, "latest day" still shows the newest announcement."""
    now = clock.now()
    newest = make_paper(when=now - timedelta(days=5))
    same_day = make_paper(when=now - timedelta(days=5, hours=10))
    make_paper(when=now - timedelta(days=7))
    page = text(client.get("/?days=latest"))
    assert cards(page) == [newest.id, same_day.id] and "No papers" not in page


@pytest.mark.both_databases
def test_empty_window_says_so_and_offers_the_newest(client, clock):
    """An empty time window says so and shows the newest papers instead."""
    old = make_paper(when=clock.now() - timedelta(days=50))
    page = text(client.get("/?days=3"))
    assert "No papers from the last 3 days. Showing the newest papers instead." in page
    assert cards(page) == [old.id]


def test_empty_database_explains_what_to_do(client):
    """With no papers the list says where they come from."""
    page = text(client.get("/"))
    assert "No papers yet" in page and "sanity import" in page


@pytest.mark.both_databases
def test_pagination_keeps_every_parameter(client, clock):
    """Next/previous links keep the mode, query and filters; pages do not overlap."""
    for i in range(30):
        make_paper(title=f"Graph study {i}", categories=["cs.LG"], when=clock.now() - timedelta(i))
    first = text(client.get("/?q=graph&days=60&category=cs.LG"))
    assert "page 1 of 2" in first
    (nxt,) = links(first, r"page=2")
    assert nxt == {"q": "graph", "days": "60", "category": "cs.LG", "page": "2"}
    second = text(client.get("/?q=graph&days=60&category=cs.LG&page=2"))
    assert len(cards(second)) == 5 and not set(cards(second)) & set(cards(first))
    assert {"q": "graph", "days": "60", "category": "cs.LG"} in links(second, r"q=graph")
    newest = text(client.get("/?days=60&page=2"))
    assert "page 2 of 2" in newest and {"days": "60"} in links(newest, "days=60")


def test_page_past_the_end(client):
    """A page beyond the last one says so and links back to the first."""
    make_paper()
    page = text(client.get("/?page=9"))
    assert "No more papers here" in page and cards(page) == []


@pytest.mark.parametrize(
    "query, message",
    [
        ("rank=bogus", "rank must be one of"),
        ("days=soon", "days must be"),
        ("days=-3", "days must be a positive number"),
        ("category=cs%20LG", "category must be"),
        ("rank=similar", "rank=similar needs pid"),
        ("pid=nonsense", "not an arXiv id"),
        ("rank=tags&C=0", "C must be between"),
        ("q=" + "x" * 1001, "q is too long"),
    ],
)
def test_bad_list_parameters_are_400_pages(client, query, message):
    """Malformed parameters answer a styled 400 page that says what is wrong."""
    response = client.get("/?" + query)
    assert response.status_code == 400
    assert message in text(response) and "Back to the newest papers" in text(response)


# ---- search ----


@pytest.mark.both_databases
def test_search_mode_ranks_by_relevance_with_an_id_first(client):
    """q= searches titles, abstracts and authors; an arXiv id puts that paper first."""
    hit = make_paper(title="Diffusion models for graphs")
    other = make_paper(title="Something else", abstract="We mention diffusion once.")
    make_paper(title="Unrelated", abstract="Nothing here.")
    page = text(client.get("/?q=diffusion"))
    assert "Results for “diffusion”" in page and "2 papers" in page
    assert cards(page) == [hit.id, other.id]
    assert 'value="diffusion"' in page  # the box keeps the query
    assert cards(text(client.get(f"/?q=arXiv:{other.id}v1")))[0] == other.id


@pytest.mark.both_databases
def test_author_links_find_the_authors_papers(client):
    """An author's link (a quoted-name search) lists that author's papers."""
    mine = make_paper(authors=["Grace Hopper", "Ada Lovelace"])
    make_paper(authors=["Someone Else"])
    page = text(client.get("/"))
    (author,) = [q for q in links(page, r"\?q=") if "Lovelace" in q["q"]]
    assert cards(text(client.get("/", query_string=author))) == [mine.id]


@pytest.mark.both_databases
def test_search_without_matches_says_so(client):
    """A search that finds nothing says so."""
    make_paper()
    page = text(client.get("/?q=zebrafish"))
    assert "No papers match “zebrafish”" in page


def test_empty_query_with_rank_search_shows_newest(client):
    """rank=search without a query asks for words and lists the newest papers."""
    paper = make_paper()
    page = text(client.get("/?rank=search"))
    assert "Type words" in page and cards(page) == [paper.id]


# ---- similar ----


def test_similar_mode_lists_papers_on_the_same_topic(client):
    """rank=similar&pid=ID lists that paper's neighbours, itself excluded."""
    topics = topical_papers(8)
    jobs.full_build()
    seed = topics["graphs"][0]
    page = text(client.get(f"/?rank=similar&pid={seed}"))
    found = cards(page)
    assert "Similar to" in page and seed not in found
    assert set(found[:5]) <= set(topics["graphs"])
    assert "similarity" in page


def test_similar_before_features_are_built_is_a_friendly_notice(client):
    """Without a feature build, similar papers say why they are missing."""
    paper = make_paper()
    response = client.get(f"/?rank=similar&pid={paper.id}")
    assert response.status_code == 200
    assert "not available yet" in text(response) and "sanity compute" in text(response)


def test_similar_to_unknown_paper_is_404(client):
    """pid of a paper not in the database answers 404."""
    assert client.get("/?rank=similar&pid=2401.99999").status_code == 404


# ---- tags and recommendations ----


def test_anonymous_users_are_asked_to_log_in_to_tag(client):
    """Anonymous users see "Log in to tag" links and no tag controls."""
    make_paper()
    page = text(client.get("/"))
    assert "Log in to tag" in page and 'class="tagform"' not in page
    assert "Log in" in page and "Register" in page and "Log out" not in page
    page = text(client.get("/?rank=tags&tags=all"))
    assert "to tag papers and get recommendations" in page and cards(page) == []
    assert client.get("/tags").status_code == 302


@pytest.mark.both_databases
def test_logged_in_users_get_tag_controls_with_their_tags(client, login):
    """Cards carry the tag form, chips for the paper's tags, and the user's tag names."""
    a, b = make_paper(), make_paper()
    token = login(client, "carol")
    tag(client, token, "reading", a.id)
    tag(client, token, "reading", b.id, negative=True)
    page = text(client.get("/"))
    assert page.count('class="tagform"') == 2 and "Log in to tag" not in page
    assert 'class="chip" data-tag="reading"' in page
    assert 'class="chip neg" data-tag="reading"' in page
    assert '<datalist id="my-tags"><option value="reading">' in page
    assert "carol" in page and 'action="/logout" method="post"' in page
    assert 'name="csrf-token"' in page


@pytest.mark.both_databases
def test_hide_tagged_papers(client, login):
    """hide=1 leaves out the papers the user tagged, in the list and in search."""
    a, b = make_paper(title="Alpha graph"), make_paper(title="Beta graph")
    token = login(client, "dora")
    tag(client, token, "t", a.id)
    assert cards(text(client.get("/?hide=1"))) == [b.id]
    assert cards(text(client.get("/?q=graph&hide=1"))) == [b.id]
    assert set(cards(text(client.get("/")))) == {a.id, b.id}


@pytest.mark.both_databases
def test_recommendations_for_a_tag_with_words(client, login):
    """rank=tags ranks the tag's topic first, leaves out tagged papers, shows the words."""
    topics = topical_papers(8)
    jobs.full_build()
    token = login(client, "erin")
    for pid in topics["diffusion"][:3]:
        tag(client, token, "gen", pid)
    tag(client, token, "gen", topics["robots"][0], negative=True)
    page = text(client.get("/?rank=tags&tags=gen"))
    found = cards(page)
    assert "Recommended for gen" in page and "What the model looks for" in page
    assert not set(found) & set(topics["diffusion"][:3] + topics["robots"][:1])
    assert set(found[:5]) <= set(topics["diffusion"])
    assert "Less of" in page and 'class="word neg"' in page
    assert text(client.get("/?rank=tags&tags=all")).count('class="paper"') == len(found)
    custom = text(client.get("/?rank=tags&tags=gen&C=5"))
    assert 'name="C"' in custom and 'value="5"' in custom
    assert {"tags": "gen", "C": "5"} in links(custom, "C=5")  # rank=tags is implied by tags


@pytest.mark.both_databases
def test_recommendations_accept_several_tags_as_checkboxes(client, login):
    """tags=a&tags=b (the form's checkboxes) works like tags=a,b."""
    topics = topical_papers(8)
    jobs.full_build()
    token = login(client, "finn")
    tag(client, token, "g", topics["graphs"][0])
    tag(client, token, "r", topics["robots"][0])
    page = text(client.get("/?rank=tags&tags=g&tags=r"))
    assert "Recommended for g, r" in page
    assert cards(page) and cards(page) == cards(text(client.get("/?rank=tags&tags=g,r")))


@pytest.mark.both_databases
def test_recommendations_without_tags_explain_what_to_do(client, login):
    """No tagged papers, or an unknown tag, says what to do instead of failing."""
    make_paper()
    login(client, "gus")
    assert "No tagged papers to learn from yet" in text(client.get("/?rank=tags&tags=all"))
    assert "You have no tag named “nope”" in text(client.get("/?rank=tags&tags=nope"))


def test_recommend_route_redirects_to_the_list(client):
    """/recommend is a short way to rank=tags (all tags unless tags= says otherwise)."""
    response = client.get("/recommend?days=7")
    assert response.status_code == 302
    assert parse_qs(urlsplit(response.headers["Location"]).query) == {
        "days": ["7"], "rank": ["tags"], "tags": ["all"]
    }  # fmt: skip


@pytest.mark.both_databases
def test_tags_page_lists_counts_and_actions(client, login):
    """/tags lists each tag with counts and links to its papers and recommendations."""
    a, b = make_paper(), make_paper()
    token = login(client, "hana")
    tag(client, token, "to read", a.id)
    tag(client, token, "to read", b.id, negative=True)
    page = text(client.get("/tags"))
    assert 'data-tag="to read"' in page and "1 paper," in page and "1 not interested" in page
    assert "/tags/to%20read" in page and {"rank": "tags", "tags": "to read"} in links(page, "rank")
    assert "data-delete-tag" in page and "data-rename" in page
    listing = text(client.get("/tags/to read"))
    assert cards(listing) == [a.id]
    assert cards(text(client.get("/tags/to read?negative=1"))) == [b.id]
    assert client.get("/tags/other").status_code == 404


def test_tags_page_without_tags_explains(client, login):
    """A user without tags is told how to start one."""
    login(client, "ian")
    assert "No tags yet" in text(client.get("/tags"))


# ---- paper page ----


def test_paper_page_shows_words_and_similar_papers(client):
    """/paper/ID shows the paper, its TF-IDF words with weights and similar papers."""
    topics = topical_papers(8)
    jobs.full_build()
    seed = topics["robots"][0]
    page = text(client.get(f"/paper/{seed}"))
    assert cards(page) == [seed] and '<h1 class="title" data-math>' in page
    assert "Its words" in page and 'class="wbar"' in page
    assert re.search(r'<span class="wv">0\.\d{3}</span>', page)
    similar = re.findall(r'class="ctitle" href="/paper/([^"]+)"', page)
    assert similar and seed not in similar and set(similar[:3]) <= set(topics["robots"])


def test_paper_page_any_id_form_and_errors(client):
    """Other id forms redirect to the canonical page; unknown is 404, malformed is 400."""
    paper = make_paper(id="hep-th/9901001", title=HOSTILE, comment="12 pages & <b>bold</b>")
    page = text(client.get("/paper/hep-th/9901001"))
    assert "&lt;script&gt;" in page and "12 pages &amp; &lt;b&gt;bold&lt;/b&gt;" in page
    assert "not available" not in page and "appear once the paper features are built" in page
    response = client.get("/paper/hep-th/9901001v2")
    assert response.status_code == 301 and response.headers["Location"] == f"/paper/{paper.id}"
    missing = client.get("/paper/2401.99999")
    assert missing.status_code == 404 and "2401.99999 is not in this database" in text(missing)
    bad = client.get("/paper/not-an-id")
    assert bad.status_code == 400 and "not an arXiv id" in text(bad)


# ---- stats, about, errors ----


@pytest.mark.both_databases
def test_stats_page_chart_and_crawls(app, client, clock):
    """/stats counts papers, draws papers per day as SVG bars and lists the last crawls."""
    now = clock.now()
    for days in (0, 0, 1, 3):
        make_paper(when=now - timedelta(days=days))
    from sanity.db import db

    db.session.add(CrawlRun(started=now, finished=now, status="ok", new=4, updated=1))
    db.session.add(CrawlRun(started=now, status="failed", error="could not reach <host>"))
    db.session.commit()
    page = text(client.get("/stats"))
    assert "papers in the database" in page and ">4</span>" in page
    bars = re.findall(r'<rect class="bar"[^>]*><title>([^<]+)</title>', page)
    assert len(bars) == 3 and any(t.endswith(": 2 papers") for t in bars)
    assert '<svg class="chart"' in page and "4 papers first published" in page
    assert "st-ok" in page and "st-failed" in page and "could not reach &lt;host&gt;" in page


@pytest.mark.both_databases
def test_stats_on_an_empty_database(client):
    """/stats works before anything is crawled."""
    page = text(client.get("/stats"))
    assert "No papers yet" in page and "No crawl yet" in page


def test_about_explains_and_credits_arxiv(client):
    """/about says how recommendations work and thanks arXiv as its terms ask."""
    page = text(client.get("/about"))
    assert "How recommendations work" in page and "SVM" in page
    assert page.count("Thank you to arXiv for use of its open access interoperability.") == 2


def test_error_pages_are_styled(app, client):
    """404, 400 and 500 use the site's error page with a way back."""

    @app.get("/boom")
    def boom():
        raise RuntimeError("kaput")

    for path, code in [("/no/such/page", 404), ("/paper/junk", 400), ("/boom", 500)]:
        response = client.get(path)
        assert response.status_code == code
        page = text(response)
        assert f'<p class="code">{code}</p>' in page and "Back to the newest papers" in page
        assert 'class="search"' in page
    assert "kaput" not in text(client.get("/boom"))
