"""BibTeX: citation keys, LaTeX-safe fields, and the three BibTeX endpoints."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from pybtex.database import parse_string as pybtex_parse

from sanity.accounts import users as accounts
from sanity.web import bibtex
from sanity.web.texfield import latex_field, title_field
from tests.factories import make_paper


def paper(**overrides) -> SimpleNamespace:
    values = dict(
        id="1706.03762",
        title="Attention Is All You Need",
        authors=["Ashish Vaswani", "Noam Shazeer"],
        published=datetime(2017, 6, 12, tzinfo=UTC),
        primary_category="cs.CL",
        journal_ref=None,
        doi=None,
    )
    values.update(overrides)
    return SimpleNamespace(**values)


def bearer(name: str = "bea") -> dict[str, str]:
    user = accounts.find_user(name) or accounts.create_user(name, "bea password")
    return {"Authorization": f"Bearer {accounts.create_token(user)}"}


# ---- pure ----


def test_key_is_surname_year_and_first_significant_title_word():
    """The classic key: vaswani2017attention."""
    assert bibtex.base_key(paper()) == "vaswani2017attention"


def test_key_skips_stop_words_and_math_in_the_title():
    """Leading stop words and $...$ spans do not make the key."""
    assert bibtex.title_word("On the Towards of a Theory") == "theory"
    assert bibtex.title_word("$\\alpha$-Divergences for the Masses") == "divergences"
    assert bibtex.title_word("3D Shapes") == "3d"
    assert bibtex.title_word("A Of The") == ""


def test_key_is_lowercase_ascii_from_accents_and_latex_commands():
    """Unicode accents and LaTeX accent commands both fold to plain letters."""
    assert bibtex.base_key(paper(authors=["Émilie du Châtelet"])) == "chatelet2017attention"
    assert bibtex.base_key(paper(authors=['Kurt G\\"odel'])) == "godel2017attention"
    assert bibtex.base_key(paper(authors=["Paul Erd\\H{o}s"])) == "erdos2017attention"
    assert bibtex.base_key(paper(authors=["Łukasz Kaiser"])) == "kaiser2017attention"
    title = "\\'Etude of Schr\\\"odinger operators"
    assert bibtex.base_key(paper(authors=["Jan Łukasiewicz"], title=title)) == (
        "lukasiewicz2017etude"
    )


def test_surname_handles_suffixes_commas_and_collaborations():
    """Jr./III are skipped, "Last, First" is understood, collaborations use their name."""
    assert bibtex.surname("Martin Luther King Jr.") == "King"
    assert bibtex.surname("Smith, John") == "Smith"
    assert bibtex.surname("ATLAS Collaboration") == "ATLAS"
    assert bibtex.surname("Plato") == "Plato"


def test_key_without_authors_or_title_words_still_works():
    """No authors: 'arxiv'; no significant title word: surname and year alone."""
    assert bibtex.base_key(paper(authors=[])) == "arxiv2017attention"
    assert bibtex.base_key(paper(title="$E=mc^2$")) == "vaswani2017"


def test_clashing_keys_get_letter_suffixes_in_order():
    """Keys shared within one export become ...a, ...b; unique keys stay as they are."""
    papers = [paper(), paper(id="x1"), paper(title="Other things"), paper(id="x2")]
    assert bibtex.citation_keys(papers) == [
        "vaswani2017attentiona",
        "vaswani2017attentionb",
        "vaswani2017other",
        "vaswani2017attentionc",
    ]


def test_suffixes_never_collide_with_another_base_key():
    """A suffixed key skips letters that another paper's key already uses."""
    clash = [paper(title="$x$"), paper(title="$y$"), paper(title="A B")]  # base ...2017b
    assert bibtex.citation_keys(clash) == ["vaswani2017a", "vaswani2017c", "vaswani2017b"]
    many = bibtex.citation_keys([paper()] * 28)
    assert many[25:] == [
        "vaswani2017attentionz",
        "vaswani2017attentionaa",
        "vaswani2017attentionab",
    ]
    assert len(set(many)) == 28


def test_specials_are_escaped_and_braces_balanced():
    """& % # _ get a backslash, ^ and \\{ \\} become text commands; a tie ~ stays a tie."""
    field = latex_field("50% & more_x #1 a~b ^ \\{b c\\} \\")
    assert field == (
        "50\\% \\& more\\_x \\#1 a~b \\textasciicircum{} \\textbraceleft{}b c\\textbraceright{} "
        "\\textbackslash{}"
    )
    assert field.count("{") == field.count("}")


def test_commands_outside_math_survive():
    """\\textsubscript{...}, \\emph{...}, accents and 1-character groups are kept as written."""
    title = 'Fe\\textsubscript{5-x}GeTe\\textsubscript{2}: \\emph{Deep} R\\&D, 5\\% Schr\\"odinger'
    assert latex_field(title) == title
    assert latex_field("Poincar{\\'e} \\c{c}a \\ss{} x{2}") == "Poincar{\\'e} \\c{c}a \\ss{} x{2}"


def test_math_is_kept_verbatim():
    """$...$ spans pass through as they are, ^ and _ included; a lone dollar is literal."""
    title = "Learning $\\mathcal{O}(n^2)$ maps with $\\alpha$-nets at $z\\sim 7$"
    assert latex_field(title) == title
    assert latex_field("costs \\$5 and one $ only") == "costs \\$5 and one \\$ only"
    assert latex_field("$$x_1$$ and $\\{a\\}$") == "$x_1$ and $\\lbrace a\\rbrace $"
    assert latex_field("a $50% cut$") == "a $50\\% cut$"


def test_line_breaks_never_sit_before_a_brace():
    """\\\\ is a space in text and `\\\\ ` in math: parsers read `\\\\}` as an escaped brace."""
    assert latex_field("Sathy Aakur\\\\") == "Sathy Aakur"
    assert latex_field("a\\\\b $\\substack{x\\\\y}$") == "a b $\\substack{x\\\\ y}$"
    assert latex_field("a\\,b") == "a\\,b"


def test_commas_in_author_names_are_braced():
    """An author string with commas (affiliations) stays one name, not BibTeX's "Last, First"."""
    text = bibtex.entries([paper(authors=["Jo Touboul (INRIA,CIRB), x", "Ann\\,Lee"])])
    assert "author = {Jo Touboul (INRIA{,}CIRB){,} x and Ann\\,Lee}" in text
    (entry,) = pybtex_parse(text, "bibtex").entries.values()
    assert len(entry.persons["author"]) == 2


def test_unbalanced_braces_are_repaired():
    """A stray } is dropped and an unclosed { closed, in text and in math, keeping the text."""
    assert latex_field("a} b {c d") == "a b {c d}"
    assert latex_field("x $\\frac{1{2}$ y}") == "x $\\frac{1{2}}$ y"
    assert latex_field("$a}$ {b") == "$a$ {b}"


def test_unicode_becomes_latex():
    """Non-ASCII letters and symbols become LaTeX; math Greek becomes the math command."""
    assert latex_field("Émilie du Châtelet — ł") == (
        "{\\'E}milie du Ch{\\^a}telet {\\textemdash} {\\l}"
    )
    assert latex_field("Lyman-$α$") == "Lyman-${\\alpha}$"
    assert latex_field("Lyman-α") == "Lyman-{\\ensuremath{\\alpha}}"


@pytest.mark.parametrize(
    "command",
    ["input", "include", "write", "immediate", "openout", "openin", "read", "csname", "catcode",
     "def", "edef", "gdef", "xdef", "let", "newcommand", "renewcommand", "usepackage", "special",
     "chardef", "begin", "end", "directlua"],
)  # fmt: skip
def test_dangerous_commands_are_neutralised_in_text_and_math(command):
    """The command is written out as text (\\textbackslash{}NAME), never left as a command."""
    text = latex_field(f"a \\{command}{{/etc/passwd}} b")
    math = latex_field(f"$x \\{command}{{y}}$")
    assert text == f"a \\textbackslash{{}}{command}{{/etc/passwd}} b"
    assert math == f"$x \\backslash{{}}{command}{{y}}$"
    assert not re.search(rf"\\{command}(?![A-Za-z])", text + math)


def test_write18_and_caret_escapes_are_neutralised():
    """\\write18 loses its backslash; ^^ (which can spell \\input as \\^^69nput) is broken up."""
    assert latex_field("\\immediate\\write18{rm -rf ~}") == (
        "\\textbackslash{}immediate\\textbackslash{}write18{rm -rf ~}"
    )
    assert "^^" not in latex_field("$\\^^69nput{x} a^^5c$ \\^^69nput")
    assert latex_field("$a^^b$") == "$a^{}^b$"


def test_titles_protect_acronyms_and_proper_nouns():
    """Acronyms and mixed case are braced always; capitalised words only in sentence-case titles."""
    assert title_field("Training RNN and LLMs with GaN 3D") == (
        "Training {RNN} and {LLMs} with {GaN} {3D}"
    )
    assert title_field("Scaling laws for Transformer models of the CMB") == (
        "Scaling laws for {Transformer} models of the {CMB}"
    )
    # Title case: every word is capitalised, so only the acronyms tell.
    assert title_field("Attention Is All You Need for BERT") == (
        "Attention Is All You Need for {BERT}"
    )
    # Math, existing groups and command names are left alone; accented capitals are braced whole.
    title = (
        "The $\\mathrm{NN}$ of {NASA} via \\textbf{X} and \\'Etude of Ölands in small round boxes"
    )
    assert title_field(title) == (
        "The $\\mathrm{NN}$ of {NASA} via \\textbf{X} and {{}\\'Etude} of {{\\\"O}lands} in "
        "small round boxes"
    )


def test_misc_entry_fields():
    """@misc with title, authors joined by and, year, eprint, archivePrefix, primaryClass, url."""
    text = bibtex.entries([paper()])
    assert text == (
        "@misc{vaswani2017attention,\n"
        "  title = {Attention Is All You Need},\n"
        "  author = {Ashish Vaswani and Noam Shazeer},\n"
        "  year = {2017},\n"
        "  eprint = {1706.03762},\n"
        "  archivePrefix = {arXiv},\n"
        "  primaryClass = {cs.CL},\n"
        "  url = {https://arxiv.org/abs/1706.03762}\n"
        "}\n"
    )


def test_article_entry_with_journal_and_doi():
    """A journal reference makes an @article with journal; the DOI is written verbatim."""
    text = bibtex.entries(
        [paper(journal_ref="Phys. Rev. D 1 & 2 (2017)", doi="10.1103/Phys_Rev.1")]
    )
    assert text.startswith("@article{vaswani2017attention,\n")
    assert "  journal = {Phys. Rev. D 1 \\& 2 (2017)},\n" in text
    assert "  doi = {10.1103/Phys_Rev.1},\n" in text


def test_author_names_containing_and_are_protected():
    """An institution named "X and Y" is braced so BibTeX does not split it."""
    text = bibtex.entries([paper(authors=["Ada Lovelace", "Bell and Howell Labs"])])
    assert "author = {Ada Lovelace and {Bell and Howell Labs}}" in text


def test_old_style_ids_in_eprint_and_url():
    """hep-th/9901001 keeps its slash in eprint and url."""
    text = bibtex.entries([paper(id="hep-th/9901001")])
    assert "eprint = {hep-th/9901001}" in text
    assert "url = {https://arxiv.org/abs/hep-th/9901001}" in text


# ---- endpoints ----


def test_paper_bibtex_endpoint(client):
    """GET /api/papers/ID/bibtex: one entry as text/x-bibtex; any id form; 404 and 400 as JSON."""
    make_paper(id="2603.11111", version=2, title="Graph Nets & Friends", authors=["Ann Lee"])
    response = client.get("/api/papers/arXiv:2603.11111v1/bibtex")
    assert response.status_code == 200
    assert response.mimetype == "text/x-bibtex"
    assert response.mimetype_params["charset"] == "utf-8"
    body = response.get_data(as_text=True)
    year = body.split("year = {")[1][:4]
    assert body.startswith(f"@misc{{lee{year}graph,\n")
    assert "title = {Graph Nets \\& Friends}" in body and "primaryClass = {cs.LG}" in body
    assert "filename=2603.11111.bib" in response.headers["Content-Disposition"]
    missing = client.get("/api/papers/2603.99999/bibtex")
    assert missing.status_code == 404 and "2603.99999" in missing.get_json()["error"]
    bad = client.get("/api/papers/nonsense/bibtex")
    assert bad.status_code == 400 and "nonsense" in bad.get_json()["error"]


def test_paper_bibtex_route_wins_over_the_paper_route(client):
    """/api/papers/<old-style id>/bibtex is the BibTeX route, not a paper lookup of 'id/bibtex'."""
    make_paper(id="hep-th/9901001", title="Old strings", authors=["Ed Witten"])
    response = client.get("/api/papers/hep-th/9901001/bibtex")
    assert response.status_code == 200 and response.mimetype == "text/x-bibtex"
    assert "eprint = {hep-th/9901001}" in response.get_data(as_text=True)
    assert client.get("/api/papers/hep-th/9901001").get_json()["id"] == "hep-th/9901001"


def test_selection_bibtex_keeps_order_and_names_bad_ids(client):
    """GET /api/bibtex?ids=: entries in the given order; bad ids 400 and unknown ids 404, named."""
    a = make_paper(title="Zebra models", authors=["Kim Park"]).id
    b = make_paper(title="Apple models", authors=["Kim Park"]).id
    body = client.get(f"/api/bibtex?ids={b},{a}v3,{b}").get_data(as_text=True)
    assert body.index("apple") < body.index("zebra") and body.count("@misc{") == 2
    bad = client.get(f"/api/bibtex?ids={a},junk,also-bad")
    assert bad.status_code == 400
    assert "junk" in bad.get_json()["error"] and "also-bad" in bad.get_json()["error"]
    unknown = client.get(f"/api/bibtex?ids={a},2999.99999")
    assert unknown.status_code == 404 and "2999.99999" in unknown.get_json()["error"]
    assert client.get("/api/bibtex").status_code == 400
    many = ",".join(f"2603.{i:05d}" for i in range(1001))
    assert "at most 1000" in client.get(f"/api/bibtex?ids={many}").get_json()["error"]


def test_selection_clashes_get_suffixes(client):
    """Two papers with the same first author, year and title word get ...a and ...b."""
    a = make_paper(title="Graphs I", authors=["Kim Park"]).id
    b = make_paper(title="Graphs II", authors=["Kim Park"]).id
    body = client.get(f"/api/bibtex?ids={a},{b}").get_data(as_text=True)
    year = body.split("year = {")[1][:4]
    assert f"@misc{{park{year}graphsa," in body and f"@misc{{park{year}graphsb," in body


@pytest.mark.both_databases
def test_tag_bibtex_needs_auth_and_lists_positive_papers(client):
    """GET /api/tags/NAME/bibtex: 401 anonymous, 404 unknown tag, only positive papers."""
    liked = make_paper(title="Liked paper", authors=["Ann Lee"]).id
    disliked = make_paper(title="Disliked paper", authors=["Ann Lee"]).id
    assert client.get("/api/tags/ml/bibtex").status_code == 401
    h = bearer()
    client.put(f"/api/tags/ml/papers/{liked}", headers=h)
    client.put(f"/api/tags/ml/papers/{disliked}?negative=1", headers=h)
    response = client.get("/api/tags/ml/bibtex", headers=h)
    assert response.status_code == 200 and response.mimetype == "text/x-bibtex"
    body = response.get_data(as_text=True)
    assert f"eprint = {{{liked}}}" in body and disliked not in body
    missing = client.get("/api/tags/nope/bibtex", headers=h)
    assert missing.status_code == 404 and "nope" in missing.get_json()["error"]
    assert client.get("/api/tags/ml/bibtex", headers=bearer("other")).status_code == 404


@pytest.mark.both_databases
def test_tag_bibtex_works_with_the_browser_session(client, login):
    """A logged-in browser downloads a tag's BibTeX (GET needs no CSRF token)."""
    pid = make_paper(title="Session paper").id
    token = login(client, "sam")
    client.put(f"/api/tags/reading list/papers/{pid}", headers={"X-CSRFToken": token})
    response = client.get("/api/tags/reading list/bibtex")
    assert response.status_code == 200 and f"eprint = {{{pid}}}" in response.get_data(True)
    assert "filename=reading-list.bib" in response.headers["Content-Disposition"]


def test_random_specials_always_give_a_balanced_parseable_entry():
    """Any mix of TeX specials and commands: braces balance as BibTeX counts them (escaped or
    not), no ^^ survives, no dangerous command survives, and pybtex parses the entry."""
    rng = random.Random(14)
    alphabet = list("{}$\\^_~%#&a A\u00e9\u03b1") + ["\\input", "\\def", "\\{", "\\}", "$$", "^^"]
    for _ in range(200):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30)))
        for value in (latex_field(text), title_field(text)):
            depth = 0
            for c in value:
                depth += {"{": 1, "}": -1}.get(c, 0)
                assert depth >= 0, (text, value)
            assert depth == 0 and "^^" not in value, (text, value)
            # a command is a backslash after an even run of them (`\\input` is a break + "input")
            assert not re.search(r"(?<!\\)(\\\\)*\\(input|def)(?![A-Za-z])", value), value
        body = bibtex.entries([paper(title=text, authors=[text])])
        assert len(pybtex_parse(body, "bibtex").entries) == 1, body
