"""Pure arXiv parsers: ids, query URLs, Atom pages and OAI-PMH pages in arXiv's exact formats."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from sanity.arxiv import (
    ApiError,
    FeedError,
    build_oai_url,
    build_query_url,
    parse_feed,
    parse_id,
    parse_oai,
    window_query,
)

FIXTURES = Path(__file__).parent / "fixtures"
RAW = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "raw"
ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV_ATOM = "{http://arxiv.org/schemas/atom}"
OAI = "{http://www.openarchives.org/OAI/2.0/}"
ARXIV_OAI = "{http://arxiv.org/OAI/arXiv/}"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# ---- ids ----


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0704.0001", ("0704.0001", None)),  # new style, 4-digit number (2007-2014)
        ("2401.01234", ("2401.01234", None)),  # new style, 5-digit number (2015-)
        ("2401.01234v2", ("2401.01234", 2)),
        ("2401.01234v12", ("2401.01234", 12)),
        ("arXiv:2401.01234", ("2401.01234", None)),
        ("ARXIV:2401.01234v3", ("2401.01234", 3)),
        ("  arXiv:0911.4521v2\n", ("0911.4521", 2)),
        ("hep-th/9901001", ("hep-th/9901001", None)),
        ("hep-th/9901001v2", ("hep-th/9901001", 2)),
        ("arXiv:hep-th/9901001v2", ("hep-th/9901001", 2)),
        ("math.GT/0309136", ("math/0309136", None)),
        ("math.GT/0309136v1", ("math/0309136", 1)),
        ("cond-mat.stat-mech/0102536", ("cond-mat/0102536", None)),
        ("q-bio.NC/0301001", ("q-bio/0301001", None)),
        ("https://arxiv.org/abs/2401.01234v2", ("2401.01234", 2)),
        ("http://arxiv.org/abs/hep-th/9901001v2", ("hep-th/9901001", 2)),
        ("https://arxiv.org/abs/math.GT/0309136", ("math/0309136", None)),
        ("https://export.arxiv.org/abs/2401.01234", ("2401.01234", None)),
        ("https://www.arxiv.org/abs/2401.01234", ("2401.01234", None)),
        ("https://arxiv.org/pdf/2401.01234", ("2401.01234", None)),
        ("https://arxiv.org/pdf/2401.01234v2.pdf", ("2401.01234", 2)),
        ("https://arxiv.org/pdf/hep-th/9901001v1", ("hep-th/9901001", 1)),
    ],
)
def test_parse_id_accepts_every_form(text, expected):
    """Every common spelling of an id yields the versionless id and the version (or None)."""
    assert parse_id(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "abc",
        "1234",
        "2401.123",  # too few digits
        "2401.123456",  # too many digits
        "240.01234",
        "2401.01234v",  # version marker without a number
        "2401.01234v2v3",
        "arXiv: 2401.01234",
        "hep-th/990100",  # old style has seven digits
        "hep-th9901001",
        "https://example.com/abs/2401.01234",
        "https://arxiv.org/api/errors#incorrect_id_format_for_abc",
        "2401.01234; DROP TABLE papers",
        "\u0662\u0664\u0660\u0661.\u0660\u0661\u0662\u0663\u0664",  # Arabic-Indic digits
        "\uff12\uff14\uff10\uff11.\uff10\uff11\uff12\uff13\uff14",  # fullwidth digits
    ],
)
def test_parse_id_rejects_garbage(text):
    """Anything that is not an arXiv id raises ValueError."""
    with pytest.raises(ValueError, match="not an arXiv id"):
        parse_id(text)


# ---- query URLs ----


def test_build_query_url_encodes_the_search_and_paging():
    """The export-API URL carries the query, paging and newest-updated-first sort, encoded."""
    url = build_query_url(
        "https://export.arxiv.org/api/query", "cat:cs.LG OR cat:stat.ML", 200, 100
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "export.arxiv.org", "/api/query")
    assert " " not in url
    assert parse_qs(parts.query) == {
        "search_query": ["cat:cs.LG OR cat:stat.ML"],
        "start": ["200"],
        "max_results": ["100"],
        "sortBy": ["lastUpdatedDate"],
        "sortOrder": ["descending"],
    }


def test_window_query_restricts_to_a_minute_resolution_window():
    """window_query wraps the search in parentheses and ANDs an inclusive lastUpdatedDate range."""
    query = window_query(
        "cat:cs.LG OR cat:cs.CV", utc(2024, 3, 1, 9, 5, 59), utc(2024, 3, 2, 18, 0)
    )
    assert query == "(cat:cs.LG OR cat:cs.CV) AND lastUpdatedDate:[202403010905 TO 202403021800]"


def test_build_oai_url_sends_a_token_alone():
    """A first ListRecords names format and filters; a resumed one sends only the token."""
    first = parse_qs(urlsplit(build_oai_url("http://h/oai", None, "2024-03-01", "cs")).query)
    assert first == {
        "verb": ["ListRecords"],
        "metadataPrefix": ["arXiv"],
        "from": ["2024-03-01"],
        "set": ["cs"],
    }
    resumed = parse_qs(
        urlsplit(build_oai_url("http://h/oai", "7419356|4", "2024-03-01", "cs")).query
    )
    assert resumed == {"verb": ["ListRecords"], "resumptionToken": ["7419356|4"]}


# ---- Atom feeds ----


@pytest.fixture(scope="module")
def page():
    return parse_feed(fixture("api_page.xml"))


def test_parse_feed_reads_paging_totals(page):
    """opensearch totalResults and startIndex become the page's total and start."""
    assert (page.total, page.start) == (1843, 100)
    assert [e.id for e in page.entries] == [
        "2403.01234",
        "hep-th/9901001",
        "2401.00001",
        "0911.4521",
    ]


def test_parse_feed_multi_version_entry_with_latex_and_unicode(page):
    """A v3 entry: versionless id, version 3, unescaped LaTeX/unicode title, collapsed abstract."""
    e = page.entries[0]
    assert (e.id, e.version) == ("2403.01234", 3)
    assert e.title == ("Schrödinger Bridges for $\\alpha$-Divergences: Bounds for $p < 2$ & Beyond")
    assert e.abstract.startswith("We study Schrödinger bridges between empirical measures")
    assert "$0 < \\alpha < 1$" in e.abstract and "$O(n^{-1/2})$ & needs" in e.abstract
    assert e.abstract.endswith(
        "regularisation. We also give matching lower bounds for the case $p > 2$."
    )
    assert "\n" not in e.abstract and "  " not in e.abstract
    assert e.authors == ["Léa Dupont-Aignan", "Kwame O. Mensah", "Zhang Wei"]
    assert e.published == utc(2024, 3, 2, 17, 45, 10)
    assert e.updated == utc(2024, 6, 11, 9, 3, 27)
    assert e.published.utcoffset().total_seconds() == 0
    assert e.comment == "v3: corrected Theorem 2; 31 pages, 4 figures"
    assert (e.journal_ref, e.doi) == (None, None)
    assert e.pdf_url == "https://arxiv.org/pdf/2403.01234v3"


def test_parse_feed_puts_primary_category_first(page):
    """When <arxiv:primary_category> is not the first <category>, it still leads the list."""
    e = page.entries[0]
    assert e.categories == ["stat.ML", "cs.LG", "math.OC"]
    assert e.primary_category == "stat.ML"


def test_parse_feed_old_style_entry(page):
    """An old-style id keeps its archive, and a wrapped title is joined onto one line."""
    e = page.entries[1]
    assert (e.id, e.version) == ("hep-th/9901001", 2)
    assert e.title == (
        "Anomalies, Orientifolds and the Large $N$ Limit of Supersymmetric Gauge Theories"
    )
    assert e.abstract.startswith("We compute the one-loop anomaly")  # leading spaces trimmed
    assert e.authors == ["Jörg Müller", "A. B. Ramírez"]  # affiliations are not names
    assert e.categories == ["hep-th", "gr-qc"]
    assert e.journal_ref == "Nucl.Phys. B552 (1999) 101-118"
    assert e.doi is None
    assert e.published == utc(1999, 1, 4, 16, 2, 11)
    assert e.pdf_url == "https://arxiv.org/pdf/hep-th/9901001v2"


def test_parse_feed_missing_optional_fields_are_none(page):
    """An entry without comment, journal_ref and doi parses with None for each."""
    e = page.entries[2]
    assert (e.id, e.version) == ("2401.00001", 1)
    assert (e.comment, e.journal_ref, e.doi, e.license) == (None, None, None, None)
    assert e.authors == ["Ines Okafor"]
    assert e.categories == ["stat.ML"]
    assert e.published == e.updated == utc(2024, 1, 1, 0, 0, 7)


def test_parse_feed_doi_and_journal_ref(page):
    """A published paper's DOI and journal reference are read from the arxiv: namespace."""
    e = page.entries[3]
    assert (e.id, e.version) == ("0911.4521", 2)
    assert e.doi == "10.5555/1756006.1756007"
    assert e.journal_ref == "Journal of Machine Learning Research 11 (2010) 1-30"
    assert e.comment == "Accepted version"
    assert e.categories == ["stat.ML", "cs.LG"]
    assert e.authors == ["Ravi Subramanian", "Olga Petrova"]


def test_parse_feed_zero_results():
    """A query that matches nothing is an empty page with total 0, not an error."""
    empty = parse_feed(fixture("api_empty.xml"))
    assert (empty.total, empty.start, empty.entries) == (0, 0, [])


def test_parse_feed_error_feed_raises_api_error():
    """arXiv's error feed (an entry with an /api/errors# id) raises ApiError with its message."""
    with pytest.raises(ApiError, match="incorrect id format for 2401.0123x"):
        parse_feed(fixture("api_error.xml"))


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.9])
def test_parse_feed_truncated_xml_raises_feed_error(cut):
    """A response cut off mid-document raises FeedError instead of returning partial entries."""
    raw = fixture("api_page.xml")
    with pytest.raises(FeedError, match="malformed"):
        parse_feed(raw[: int(len(raw) * cut)])


def test_parse_feed_cut_before_closing_tag_raises_feed_error():
    """Even with every entry complete, a missing </feed> means the page is not trusted."""
    raw = fixture("api_page.xml")
    with pytest.raises(FeedError):
        parse_feed(raw[: raw.rindex(b"</feed>")])


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body><h1>502 Bad Gateway</h1></body></html>",
        b"<!DOCTYPE html>\n<html><head><title>Service Unavailable</title></head>"
        b"<body>Retry later</body></html>",
        b"Rate exceeded.",
        b"",
    ],
)
def test_parse_feed_non_feed_raises_feed_error(body):
    """An HTML error page, plain text or an empty body is a FeedError, never an empty page."""
    with pytest.raises(FeedError):
        parse_feed(body)


# ---- OAI-PMH ----


def test_parse_oai_records_and_token():
    """A ListRecords page yields its records, the resumption token and completeListSize."""
    page = parse_oai(fixture("oai_list_page1.xml"))
    assert (page.token, page.complete_size, page.error_code, page.deleted) == (
        "7419356|4",
        5,
        None,
        0,
    )
    assert [r.id for r in page.records] == ["2403.01234", "2403.05678", "cs/0112017"]


def test_parse_oai_record_fields():
    """Authors are "Forenames Keyname [Suffix]", categories keep arXiv's primary-first order."""
    first, second, third = parse_oai(fixture("oai_list_page1.xml")).records
    assert first.authors == ["Léa Dupont-Aignan", "Kwame O. Mensah", "Zhang Wei"]
    assert first.title == (
        "Schrödinger Bridges for $\\alpha$-Divergences: Bounds for $p < 2$ & Beyond"
    )
    assert first.abstract.startswith("We study Schrödinger bridges between empirical measures")
    assert "\n" not in first.abstract and "  " not in first.abstract
    assert first.categories == ["stat.ML", "cs.LG", "math.OC"]
    assert first.license == "http://creativecommons.org/licenses/by/4.0/"
    assert first.comment == "v3: corrected Theorem 2; 31 pages, 4 figures"
    assert second.authors == ["John Smith Jr", "ATLAS Collaboration", "Thi Nguyen"]
    assert (second.comment, second.journal_ref, second.doi) == (None, None, None)
    assert third.journal_ref == "J. Logic Comput. 12 (2002) 455-480"
    assert third.doi == "10.1093/logcom/12.3.455"


def test_parse_oai_versions_and_dates():
    """Without <updated> a record is v1; with one the version is unknown (None), dated by it."""
    first, second, third = parse_oai(fixture("oai_list_page1.xml")).records
    assert (first.version, first.published, first.updated) == (
        None,
        utc(2024, 3, 2),
        utc(2024, 6, 11),
    )
    assert (second.version, second.published, second.updated) == (
        1,
        utc(2024, 3, 9),
        utc(2024, 3, 9),
    )
    assert third.version is None and third.published == utc(2001, 12, 14)
    assert all(r.updated.tzinfo is not None for r in (first, second, third))


def test_parse_oai_last_page_with_deleted_record():
    """The last page has an empty token (None) and counts deleted records without parsing them."""
    page = parse_oai(fixture("oai_list_last_deleted.xml"))
    assert page.token is None
    assert page.complete_size == 5
    assert page.deleted == 1
    assert [r.id for r in page.records] == ["2404.00077"]


@pytest.mark.parametrize(
    ("name", "code", "message"),
    [
        ("oai_error_bad_token.xml", "badResumptionToken", "invalid or expired"),
        ("oai_no_records.xml", "noRecordsMatch", "results in an empty list"),
    ],
)
def test_parse_oai_error_codes(name, code, message):
    """An OAI-PMH <error> is reported by code and text, with no records and no token."""
    page = parse_oai(fixture(name))
    assert page.error_code == code
    assert message in page.error
    assert (page.records, page.token) == ([], None)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html><body>Bad gateway</body></html>",
        b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"></feed>',
    ],
)
def test_parse_oai_rejects_non_oai(body):
    """Anything that is not an OAI-PMH document is a FeedError."""
    with pytest.raises(FeedError):
        parse_oai(body)


def test_parse_oai_truncated_raises_feed_error():
    """A ListRecords page cut off mid-record raises FeedError (so the page is retried)."""
    raw = fixture("oai_list_page1.xml")
    with pytest.raises(FeedError, match="malformed"):
        parse_oai(raw[: len(raw) // 2])


# ---- real responses saved from arXiv ----


def raw_files(kind: str) -> list[Path]:
    if not RAW.is_dir():
        pytest.skip(f"no real arXiv responses at {RAW} (see ../shared/data/raw/README.md)")
    files = sorted((RAW / kind).rglob("*.xml"))
    if not files:
        pytest.skip(f"no .xml files under {RAW / kind}")
    return files


def test_real_api_responses_parse_with_invariants():
    """Every saved export-API response parses; ids, titles and primary-first categories hold."""
    errors = entries = 0
    for path in raw_files("arxiv_api_atom"):
        raw = path.read_bytes()
        tree = ET.fromstring(raw)
        xml_entries = tree.findall(ATOM + "entry")
        if any("/api/errors" in e.findtext(ATOM + "id") for e in xml_entries):
            with pytest.raises(ApiError):
                parse_feed(raw)
            errors += 1
            continue
        page = parse_feed(raw)
        assert len(page.entries) == len(xml_entries), path.name
        total = int(tree.findtext("{http://a9.com/-/spec/opensearch/1.1/}totalResults"))
        assert page.total == total, path.name
        for record, xml_entry in zip(page.entries, xml_entries, strict=True):
            entries += 1
            pid, version = parse_id(xml_entry.findtext(ATOM + "id"))
            assert (record.id, record.version) == (pid, version), path.name
            assert parse_id(record.id) == (record.id, None)
            assert record.title and record.abstract, record.id
            assert record.authors and all(record.authors), record.id
            primary = xml_entry.find(ARXIV_ATOM + "primary_category").get("term")
            first = xml_entry.find(ATOM + "category").get("term")
            assert record.categories[0] == primary == first, record.id
            assert len(record.categories) == len(set(record.categories))
            assert record.published.tzinfo is not None and record.updated >= record.published
            assert "://arxiv.org/pdf/" in record.pdf_url
    assert errors >= 1 and entries >= 100


def test_real_oai_responses_parse_with_invariants():
    """Every saved OAI-PMH response parses; each arXiv-format record becomes a sane paper."""
    records = 0
    for path in raw_files("oai_pmh"):
        raw = path.read_bytes()
        page = parse_oai(raw)
        assert page.error_code is None, path.name
        # Some fixture authors dropped the arXiv namespace by hand; arXiv never serves that.
        metas = ET.fromstring(raw).findall(f".//{OAI}metadata/{ARXIV_OAI}arXiv")
        assert len(page.records) == len(metas), path.name
        for record, meta in zip(page.records, metas, strict=True):
            records += 1
            assert parse_id(record.id) == (record.id, None)
            assert record.id == meta.findtext(ARXIV_OAI + "id").strip()
            assert record.title and record.abstract, record.id
            assert record.authors and all(record.authors), record.id
            assert record.categories[0] == meta.findtext(ARXIV_OAI + "categories").split()[0]
            assert record.version == (None if meta.find(ARXIV_OAI + "updated") is not None else 1)
            assert record.updated >= record.published
    assert records >= 10
