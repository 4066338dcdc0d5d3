"""Atom feeds (RFC 4287) of papers, each entry linking to its page here and on arXiv."""

from __future__ import annotations

from datetime import datetime
from xml.etree import ElementTree as ET

from sanity.arxiv import abs_url, pdf_url
from sanity.models import Paper
from sanity.timeutil import isoformat

ATOM = "http://www.w3.org/2005/Atom"
ET.register_namespace("", ATOM)


def _el(parent, tag: str, text: str | None = None, **attrs) -> ET.Element:
    el = ET.SubElement(parent, f"{{{ATOM}}}{tag}", {k: v for k, v in attrs.items() if v})
    if text is not None:
        el.text = _xml_safe(text)
    return el


def _xml_safe(text: str) -> str:
    """Drop characters XML 1.0 cannot carry (control characters from odd metadata)."""
    return "".join(c for c in text if c in "\t\n\r" or ord(c) >= 0x20)


def atom(
    feed_id: str,
    title: str,
    self_url: str,
    site_url: str,
    base_url: str,
    papers: list[Paper],
    updated: datetime,
) -> bytes:
    """An Atom document for papers, each linking to its page here and on arXiv."""
    feed = ET.Element(f"{{{ATOM}}}feed")
    _el(feed, "id", feed_id)
    _el(feed, "title", title)
    _el(feed, "updated", isoformat(updated))
    _el(feed, "link", rel="self", href=self_url, type="application/atom+xml")
    _el(feed, "link", rel="alternate", href=site_url, type="text/html")
    _el(feed, "generator", "sanity")
    author = _el(feed, "author")
    _el(author, "name", "sanity")
    for p in papers:
        entry = _el(feed, "entry")
        _el(entry, "id", abs_url(p.id))
        _el(entry, "title", p.title)
        _el(entry, "updated", isoformat(p.updated))
        _el(entry, "published", isoformat(p.published))
        _el(entry, "link", rel="alternate", type="text/html", href=f"{base_url}/paper/{p.id}")
        _el(entry, "link", rel="related", type="text/html", href=abs_url(p.id), title="arXiv")
        _el(entry, "link", rel="enclosure", type="application/pdf", href=pdf_url(p.id, p.version))
        for name in p.authors or []:
            _el(_el(entry, "author"), "name", name)
        for category in p.category_list:
            _el(entry, "category", term=category)
        _el(entry, "summary", p.abstract, type="text")
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="utf-8")
