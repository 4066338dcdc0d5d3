"""Atom feeds (RFC 4287) of papers, written by feedgen, each entry linking to its page here and
on arXiv. Text goes into elements as text (lxml escapes it), never as markup."""

from __future__ import annotations

from datetime import datetime

from feedgen.entry import FeedEntry
from feedgen.feed import FeedGenerator

from sanity.arxiv import abs_url, pdf_url
from sanity.models import Paper
from sanity.timeutil import as_utc


def _xml_safe(text: str | None) -> str:
    """Drop characters XML 1.0 cannot carry (control characters from odd metadata)."""
    return "".join(c for c in text or "" if c in "\t\n\r" or ord(c) >= 0x20)


class _Entry(FeedEntry):
    """feedgen 1.0.0 writes an entry's links with href alone (lkiesow/python-feedgen#135, open):
    put back each link's rel, type and title, in the order they were added."""

    def atom_entry(self, extensions=True):
        entry = super().atom_entry(extensions)
        for element, link in zip(entry.findall("link"), self.link(), strict=True):
            for name in ("rel", "type", "title", "hreflang", "length"):
                if link.get(name):
                    element.set(name, link[name])
        return entry


def _entry(feed: FeedGenerator, paper: Paper, base_url: str) -> None:
    entry = feed.add_entry(_Entry(), order="append")
    entry.id(abs_url(paper.id))
    entry.title(_xml_safe(paper.title))
    entry.updated(as_utc(paper.updated))
    entry.published(as_utc(paper.published))
    entry.link(rel="alternate", type="text/html", href=f"{base_url}/paper/{paper.id}")
    entry.link(rel="related", type="text/html", href=abs_url(paper.id), title="arXiv")
    entry.link(rel="enclosure", type="application/pdf", href=pdf_url(paper.id, paper.version))
    for name in paper.authors or []:
        entry.author(name=_xml_safe(name))
    for category in paper.category_list:
        entry.category(term=_xml_safe(category))
    entry.summary(_xml_safe(paper.abstract), type="text")


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
    feed = FeedGenerator()
    feed.id(_xml_safe(feed_id))
    feed.title(_xml_safe(title))
    feed.updated(as_utc(updated))
    feed.link(rel="self", href=self_url, type="application/atom+xml")
    feed.link(rel="alternate", href=site_url, type="text/html")
    feed.generator("sanity")
    feed.author(name="sanity")
    for paper in papers:
        _entry(feed, paper, base_url)
    return feed.atom_str(pretty=False, encoding="utf-8")
