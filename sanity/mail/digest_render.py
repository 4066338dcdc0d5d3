"""A digest as a message: per section a heading and its papers (title, the first AUTHORS_SHOWN
authors, categories, the abstract cut at a word after ABSTRACT_CHARS, links here and to arXiv),
as text + HTML from the `digest` email templates with List-Unsubscribe headers. It reads the
digest sanity.mail.digest chose through the Part and Contents shapes (no import back, no cycle);
nothing here queries the database or sends.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from sanity.arxiv import abs_url, pdf_url
from sanity.mail.links import external_url, unsubscribe_token
from sanity.mail.send import render_message
from sanity.models import Paper, User
from sanity.timeutil import as_utc

ABSTRACT_CHARS = 300
AUTHORS_SHOWN = 5


class Part(Protocol):
    """What a message needs of a section (sanity.mail.digest.Section has all of it)."""

    kind: str  # "tag" | "search"
    name: str
    papers: list[Paper]
    query: str


class Contents(Protocol):
    """What a message needs of a digest (sanity.mail.digest.Digest has all of it)."""

    user: User
    sections: Sequence[Part]

    @property
    def papers(self) -> list[Paper]: ...

    @property
    def subject(self) -> str: ...


def _shorten(text: str, limit: int) -> str:
    text = " ".join((text or "").split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",.;:") + " …"


def paper_view(paper: Paper) -> dict:
    """What a digest shows of a paper, with links here and to arXiv."""
    authors = list(paper.authors or [])
    shown = ", ".join(authors[:AUTHORS_SHOWN]) + (" et al." if len(authors) > AUTHORS_SHOWN else "")
    return {
        "id": paper.id,
        "title": " ".join(paper.title.split()),
        "authors": shown,
        "categories": paper.category_list,
        "published": as_utc(paper.published),
        "abstract": _shorten(paper.abstract, ABSTRACT_CHARS),
        "url": external_url("papers.paper", pid=paper.id),
        "arxiv_url": abs_url(paper.id),
        "pdf_url": pdf_url(paper.id, paper.version),
    }


def _heading(section: Part) -> str:
    if section.kind == "tag":
        return f'Recommended for your tag "{section.name}"'
    return f'New matches of your saved search "{section.name}"'


def render(digest: Contents, now: datetime):
    """The digest as a multipart (text + HTML) message with List-Unsubscribe headers."""
    user = digest.user
    unsubscribe = external_url("account_mail.unsubscribe", token=unsubscribe_token(user))
    headers = {
        "List-Unsubscribe": f"<{unsubscribe}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "Auto-Submitted": "auto-generated",
    }
    sections = [
        {"heading": _heading(s), "query": s.query, "papers": [paper_view(p) for p in s.papers]}
        for s in digest.sections
    ]
    return render_message(
        user.email,
        digest.subject,
        "digest",
        headers,
        user=user,
        sections=sections,
        count=len(digest.papers),
        date=now,
        home_url=external_url("papers.index"),
        profile_url=external_url("auth.profile"),
        unsubscribe_url=unsubscribe,
    )
