"""Pure arXiv formats: ids, API query URLs, Atom feeds and OAI-PMH pages. No Flask, no DB."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlencode

import feedparser

# New style: YYMM.NNNN (2007-2014) or YYMM.NNNNN (2015-); old style: archive[.SC]/YYMMNNN.
_NEW_ID = r"\d{4}\.\d{4,5}"
_OLD_ID = r"[a-z][a-z\-]*(?:\.[A-Za-z\-]{2,})?/\d{7}"
# ASCII: \d would otherwise accept other scripts' digits (Arabic-Indic, fullwidth, ...).
_ID_RE = re.compile(
    rf"^(?:arxiv:)?(?P<id>{_NEW_ID}|{_OLD_ID})(?:v(?P<version>\d+))?$", re.IGNORECASE | re.ASCII
)
_URL_PREFIX = re.compile(r"^https?://(?:export\.|www\.)?arxiv\.org/(?:abs|pdf)/", re.IGNORECASE)


class FeedError(Exception):
    """The response is not a well-formed arXiv feed (truncated or malformed XML)."""


class ApiError(Exception):
    """arXiv answered with an error feed (for example a malformed query)."""


@dataclass
class PaperRecord:
    """One paper as parsed from any arXiv source, ready for upsert."""

    id: str
    version: int | None
    title: str
    abstract: str
    authors: list[str]
    categories: list[str]  # primary first
    published: datetime
    updated: datetime
    comment: str | None = None
    journal_ref: str | None = None
    doi: str | None = None
    license: str | None = None
    pdf_url: str | None = None

    @property
    def primary_category(self) -> str:
        return self.categories[0] if self.categories else ""


@dataclass
class FeedPage:
    """One page of API results."""

    total: int
    start: int
    entries: list[PaperRecord] = field(default_factory=list)


def parse_id(text: str) -> tuple[str, int | None]:
    """Split an arXiv id in any common form into (id without version, version or None).

    Accepts `2401.01234`, `2401.01234v2`, `arXiv:2401.01234`, `hep-th/9901001v2`,
    `math.GT/0309136` (the subject class is dropped, as arXiv's canonical ids do) and
    abs/pdf URLs. Raises ValueError for anything else.
    """
    value = _URL_PREFIX.sub("", text.strip())
    value = value.removesuffix(".pdf")
    match = _ID_RE.match(value)
    if not match:
        raise ValueError(f"not an arXiv id: {text[:80]!r}")
    pid = match.group("id")
    if "/" in pid:
        archive, number = pid.split("/", 1)
        pid = archive.split(".", 1)[0].lower() + "/" + number
    version = match.group("version")
    return pid, int(version) if version else None


def id_month(pid: str) -> datetime | None:
    """The first day (UTC) of the month an id was assigned in (its YYMM: 2403.10794 -> March
    2024, hep-th/9901001 -> January 1999); None when those digits name no month."""
    old = "/" in pid  # old style: 1991-2007; new style from April 2007 (0704)
    digits = pid.split("/", 1)[1][:4] if old else pid[:4]
    yy, mm = int(digits[:2]), int(digits[2:])
    if not 1 <= mm <= 12 or (not old and yy < 7):
        return None
    return datetime(1900 + yy if old and yy >= 91 else 2000 + yy, mm, 1, tzinfo=UTC)


def abs_url(pid: str) -> str:
    return f"https://arxiv.org/abs/{pid}"


def pdf_url(pid: str, version: int | None = None) -> str:
    return f"https://arxiv.org/pdf/{pid}" + (f"v{version}" if version else "")


def clean_text(text: str | None) -> str:
    """Collapse every whitespace run to one space and trim."""
    return " ".join((text or "").split())


def build_query_url(
    base_url: str,
    search_query: str,
    start: int = 0,
    max_results: int = 100,
    sort_by: str = "lastUpdatedDate",
    sort_order: str = "descending",
) -> str:
    """The export API URL for one page of a search, newest first by default."""
    params = {
        "search_query": search_query,
        "start": start,
        "max_results": max_results,
        "sortBy": sort_by,
        "sortOrder": sort_order,
    }
    return f"{base_url}?{urlencode(params)}"


def window_query(search_query: str, lo: datetime, hi: datetime) -> str:
    """Restrict a search to a lastUpdatedDate window (minute resolution, inclusive)."""
    fmt = "%Y%m%d%H%M"
    return f"({search_query}) AND lastUpdatedDate:[{lo.strftime(fmt)} TO {hi.strftime(fmt)}]"


def parse_datetime(text: str | None) -> datetime | None:
    """Parse ISO 8601 (with Z or offset) or a bare date into an aware UTC datetime."""
    if not text:
        return None
    value = text.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # not a time, or outside years 1-9999 in UTC
        return None


def parse_feed(content: bytes) -> FeedPage:
    """Parse one export-API Atom page. Raises FeedError if malformed, ApiError on error feeds."""
    parsed = feedparser.parse(content)
    if parsed.bozo and not _harmless(parsed.get("bozo_exception")):
        raise FeedError(f"malformed feed: {parsed.get('bozo_exception')}")
    feed = parsed.get("feed", {})
    if "opensearch_totalresults" not in feed:
        raise FeedError("not an arXiv API feed (no opensearch:totalResults)")
    entries = parsed.get("entries", [])
    for entry in entries:
        if "/api/errors" in entry.get("id", ""):
            raise ApiError(clean_text(entry.get("summary")) or "arXiv API error")
    return FeedPage(
        total=int(feed.get("opensearch_totalresults") or 0),
        start=int(feed.get("opensearch_startindex") or 0),
        entries=[entry_record(e) for e in entries],
    )


def _harmless(exc: Exception | None) -> bool:
    # feedparser flags encoding declarations it overrode; the document itself is fine.
    return isinstance(exc, feedparser.CharacterEncodingOverride)


def entry_record(entry) -> PaperRecord:
    pid, version = parse_id(entry.get("id", ""))
    primary = (entry.get("arxiv_primary_category") or {}).get("term")
    categories = [t["term"] for t in entry.get("tags", []) if t.get("term")]
    if primary:
        categories = [primary] + [c for c in categories if c != primary]
    pdf = next(
        (link["href"] for link in entry.get("links", []) if link.get("type") == "application/pdf"),
        None,
    )
    published = parse_datetime(entry.get("published"))
    updated = parse_datetime(entry.get("updated")) or published
    if published is None or updated is None:
        raise FeedError(f"entry {pid} has no dates")
    return PaperRecord(
        id=pid,
        version=version or 1,
        title=clean_text(entry.get("title")),
        abstract=clean_text(entry.get("summary")),
        authors=[clean_text(a.get("name")) for a in entry.get("authors", []) if a.get("name")],
        categories=list(dict.fromkeys(categories)),
        published=published,
        updated=updated,
        comment=clean_text(entry.get("arxiv_comment")) or None,
        journal_ref=clean_text(entry.get("arxiv_journal_ref")) or None,
        doi=clean_text(entry.get("arxiv_doi")) or None,
        pdf_url=pdf or pdf_url(pid, version),
    )


# ---- OAI-PMH (metadataPrefix=arXiv) ----

OAI_NS = "{http://www.openarchives.org/OAI/2.0/}"
ARXIV_NS = "{http://arxiv.org/OAI/arXiv/}"


@dataclass
class OaiPage:
    """One ListRecords response: records, the token for the next page, or an error code."""

    records: list[PaperRecord]
    token: str | None
    complete_size: int | None = None
    error_code: str | None = None
    error: str | None = None
    deleted: int = 0
    bad: list[str] = field(default_factory=list)  # records skipped, and why


def build_oai_url(
    base_url: str,
    token: str | None = None,
    from_date: str | None = None,
    set_spec: str | None = None,
) -> str:
    """The ListRecords URL: a resumption token alone, or the initial arguments."""
    if token:
        params = {"verb": "ListRecords", "resumptionToken": token}
    else:
        params = {"verb": "ListRecords", "metadataPrefix": "arXiv"}
        if from_date:
            params["from"] = from_date
        if set_spec:
            params["set"] = set_spec
    return f"{base_url}?{urlencode(params)}"


def parse_oai(content: bytes) -> OaiPage:
    """Parse a ListRecords (or GetRecord) response in the arXiv metadata format."""
    try:
        root = ET.fromstring(content)
    except ET.ParseError as exc:
        raise FeedError(f"malformed OAI-PMH response: {exc}") from None
    if root.tag != OAI_NS + "OAI-PMH":
        raise FeedError("not an OAI-PMH response")
    error = root.find(OAI_NS + "error")
    if error is not None:
        return OaiPage([], None, error_code=error.get("code"), error=clean_text(error.text))
    records, deleted, bad = [], 0, []
    for record in root.iter(OAI_NS + "record"):
        header = record.find(OAI_NS + "header")
        if header is not None and header.get("status") == "deleted":
            deleted += 1
            continue
        meta = record.find(f"{OAI_NS}metadata/{ARXIV_NS}arXiv")
        if meta is not None:
            try:
                records.append(_oai_record(meta))
            except ValueError as exc:  # one bad record (an unrecognised id): skip, report
                bad.append(str(exc)[:200])
    token_el = root.find(f".//{OAI_NS}resumptionToken")
    token = clean_text(token_el.text) if token_el is not None else None
    size = token_el.get("completeListSize") if token_el is not None else None
    complete = int(size) if size and size.isdigit() else None
    return OaiPage(records, token or None, complete, deleted=deleted, bad=bad)


def _oai_text(meta: ET.Element, name: str) -> str | None:
    el = meta.find(ARXIV_NS + name)
    return clean_text(el.text) or None if el is not None else None


def _oai_record(meta: ET.Element) -> PaperRecord:
    pid, _ = parse_id(_oai_text(meta, "id") or "")
    authors = []
    for author in meta.iter(ARXIV_NS + "author"):
        parts = [
            _oai_text(author, "forenames"),
            _oai_text(author, "keyname"),
            _oai_text(author, "suffix"),
        ]
        authors.append(" ".join(p for p in parts if p))
    created = parse_datetime(_oai_text(meta, "created"))
    updated = parse_datetime(_oai_text(meta, "updated"))
    if created is None:
        raise FeedError(f"record {pid} has no created date")
    return PaperRecord(
        id=pid,
        # The arXiv format names no versions: without <updated> there is only v1.
        version=None if updated else 1,
        title=_oai_text(meta, "title") or "",
        abstract=_oai_text(meta, "abstract") or "",
        authors=authors,
        categories=(_oai_text(meta, "categories") or "").split(),
        published=created,
        updated=updated or created,
        comment=_oai_text(meta, "comments"),
        journal_ref=_oai_text(meta, "journal-ref"),
        doi=_oai_text(meta, "doi"),
        license=_oai_text(meta, "license"),
    )
