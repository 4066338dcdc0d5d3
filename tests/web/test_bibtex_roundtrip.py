"""BibTeX round trip: 50 real arXiv titles and author lists (with $, \\, {, ~ and non-ASCII),
exported through the HTTP API, parse back with bibtexparser 2 and with pybtex, and decode (LaTeX to
text, pylatexenc) to what the metadata says."""

from __future__ import annotations

import json
import unicodedata
from datetime import datetime
from pathlib import Path

import bibtexparser
import pytest
from pybtex.database import parse_string as pybtex_parse
from pylatexenc.latex2text import LatexNodes2Text

from tests.factories import make_paper

FIXTURE = Path(__file__).parent.parent / "fixtures" / "bibtex_titles.jsonl"
DECODER = LatexNodes2Text(strict_latex_spaces=True)


def load() -> list[dict]:
    with FIXTURE.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def text(latex: str) -> str:
    """What a reader sees: LaTeX decoded, braces and spacing normalised, NFC."""
    decoded = DECODER.latex_to_text(latex)
    decoded = decoded.replace("\u00a0", " ").replace("{", "").replace("}", "")
    return unicodedata.normalize("NFC", " ".join(decoded.split()))


@pytest.fixture
def exported(client):
    papers = load()
    for p in papers:
        make_paper(
            id=p["id"],
            title=p["title"],
            authors=p["authors"],
            categories=p["categories"],
            journal_ref=p["journal_ref"],
            doi=p["doi"],
            **({"when": datetime.fromisoformat(p["published"])} if p["published"] else {}),
        )
    response = client.get("/api/bibtex?ids=" + ",".join(p["id"] for p in papers))
    assert response.status_code == 200
    return papers, response.get_data(as_text=True)


def test_fixture_covers_the_hard_cases():
    """The fixture holds 50 papers and each kind of hard character appears in several titles."""
    papers = load()
    assert len(papers) == 50
    titles = [p["title"] for p in papers]
    for char in ["$", "\\", "{", "~", "\\textsubscript", "\\emph"]:
        assert sum(char in t for t in titles) >= 2, char
    assert sum(not (p["title"] + "".join(p["authors"])).isascii() for p in papers) >= 8


def test_round_trip_with_bibtexparser(exported):
    """Every entry parses (no failed blocks) and titles and authors decode to the originals."""
    papers, body = exported
    library = bibtexparser.parse_string(body)
    assert library.failed_blocks == []
    assert len(library.entries) == len(papers)
    by_id = {e.fields_dict["eprint"].value: e for e in library.entries}
    losses = []
    for p in papers:
        entry = by_id[p["id"]]
        title = entry.fields_dict["title"].value
        if text(title) != text(p["title"]):
            losses.append((p["id"], p["title"], title))
        authors = entry.fields_dict["author"].value.split(" and ")
        if [text(a) for a in authors] != [text(a) for a in p["authors"]]:
            losses.append((p["id"], p["authors"], authors))
    assert losses == []


def test_round_trip_with_pybtex(exported):
    """pybtex (BibTeX's own rules for names and braces) reads the same titles and authors."""
    papers, body = exported
    data = pybtex_parse(body, "bibtex")
    assert len(data.entries) == len(papers)
    by_id = {e.fields["eprint"]: e for e in data.entries.values()}
    losses = []
    for p in papers:
        entry = by_id[p["id"]]
        if text(entry.fields["title"]) != text(p["title"]):
            losses.append((p["id"], p["title"], entry.fields["title"]))
        names = [
            " ".join(person.first_names + person.middle_names + person.prelast_names)
            + " "
            + " ".join(person.last_names + person.lineage_names)
            for person in entry.persons["author"]
        ]
        if [text(n) for n in names] != [text(a) for a in p["authors"]]:
            losses.append((p["id"], p["authors"], names))
    assert losses == []
