"""Atom feeds (RFC 4287) of papers, and the saved searches whose new matches they carry."""

from __future__ import annotations

import secrets
from datetime import datetime
from xml.etree import ElementTree as ET

from sqlalchemy import select

from .arxiv import abs_url, pdf_url
from .db import db
from .models import Paper, SavedSearch, User
from .search import QueryError, parse_query, search
from .timeutil import as_utc, isoformat

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


def feed_key(user: User, renew: bool = False) -> str:
    """The user's feed key, created on first use; renew=True revokes the old one. Commits."""
    if renew or not user.feed_key:
        user.feed_key = secrets.token_urlsafe(24)
        db.session.commit()
    return user.feed_key


def revoke_feed_key(user: User) -> None:
    user.feed_key = None
    db.session.commit()


def user_for_key(key: str) -> User | None:
    if not key or len(key) > 64:
        return None
    user = db.session.scalar(select(User).where(User.feed_key == key))
    return None if user is None or user.is_disabled else user


# ---- saved searches ----


class SearchError(ValueError):
    """A saved search that cannot be stored; the message says why."""


def saved_searches(user: User) -> list[SavedSearch]:
    return list(
        db.session.scalars(
            select(SavedSearch).where(SavedSearch.user_id == user.id).order_by(SavedSearch.name)
        )
    )


def save_search(user: User, name: str, query: str, category: str | None, now: datetime):
    """Keep a query under a name (409-worthy LookupError if the name is taken). Commits."""
    name = " ".join((name or "").split())[:100] or (query or "").strip()[:100]
    try:
        parse_query(query)
    except QueryError as exc:
        raise SearchError(str(exc)) from None
    if not name:
        raise SearchError("a saved search needs a name")
    taken = db.session.scalar(
        select(SavedSearch).where(SavedSearch.user_id == user.id, SavedSearch.name == name)
    )
    if taken is not None:
        raise LookupError(f"you already have a saved search named {name!r}")
    saved = SavedSearch(
        user_id=user.id, name=name, query=query.strip(), category=category or None, seen=now
    )
    db.session.add(saved)
    db.session.commit()
    return saved


def new_matches(saved: SavedSearch, limit: int = 100) -> list[Paper]:
    """Papers matching a saved search that were added since it was last seen, newest first."""
    results, _ = search(parse_query(saved.query), saved.category, None, None, 1, 1000, 1000)
    fresh = [p for p, _ in results if as_utc(p.added) > as_utc(saved.seen)]
    fresh.sort(key=lambda p: (p.published, p.id), reverse=True)
    return fresh[:limit]


def matches(saved: SavedSearch, days: float, now: datetime, limit: int = 50) -> list[Paper]:
    """Recent matches of a saved search (for its feed), newest first."""
    results, _ = search(parse_query(saved.query), saved.category, days, now, 1, 1000, 1000)
    papers = sorted((p for p, _ in results), key=lambda p: (p.published, p.id), reverse=True)
    return papers[:limit]
