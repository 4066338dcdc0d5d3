"""A user's whole library (tags with polarity, saved searches), exported as JSON or CSV. Exports
stream row by row, so a library of any size costs constant memory; `restore` reads the JSON back."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import select

from sanity.db import db
from sanity.models import Paper, SavedSearch, Tag, TagPaper, User
from sanity.timeutil import isoformat

VERSION = 1
CSV_COLUMNS = ["tag", "paper_id", "negative", "added", "title"]
_BATCH = 1000  # rows fetched at a time while streaming
_FLUSH_CHARS = 64 * 1024


def _memberships(user_id: int):
    """(tag, paper id or None for an empty tag, negative, added), by tag then time added."""
    query = (
        select(Tag.name, TagPaper.paper_id, TagPaper.negative, TagPaper.added)
        .outerjoin(TagPaper, TagPaper.tag_id == Tag.id)
        .where(Tag.user_id == user_id)
        .order_by(Tag.name, TagPaper.added, TagPaper.paper_id)
        .execution_options(yield_per=_BATCH)
    )
    return db.session.execute(query)


def _searches(user_id: int) -> list[dict]:
    rows = db.session.scalars(
        select(SavedSearch).where(SavedSearch.user_id == user_id).order_by(SavedSearch.name)
    )
    return [{"name": s.name, "query": s.query, "category": s.category} for s in rows]


def _buffered(pieces: Iterator[str]) -> Iterator[str]:
    """Join small pieces into chunks of about 64 KB."""
    buffer: list[str] = []
    size = 0
    for piece in pieces:
        buffer.append(piece)
        size += len(piece)
        if size >= _FLUSH_CHARS:
            yield "".join(buffer)
            buffer, size = [], 0
    if buffer:
        yield "".join(buffer)


def iter_json(user: User, now: datetime) -> Iterator[str]:
    """The library as one JSON document, produced piece by piece."""
    user_id = user.id
    head = {"version": VERSION, "user": user.username, "exported": isoformat(now)}

    def pieces() -> Iterator[str]:
        yield json.dumps(head)[:-1] + ', "tags": {'
        current = None
        for name, pid, negative, added in _memberships(user_id):
            if name != current:
                yield ("], " if current is not None else "") + json.dumps(name) + ": ["
                current, first = name, True
            if pid is not None:
                entry = {"id": pid, "added": isoformat(added), "negative": bool(negative)}
                yield ("" if first else ", ") + json.dumps(entry)
                first = False
        yield ("]" if current is not None else "") + "}, "
        yield '"saved_searches": ' + json.dumps(_searches(user_id)) + "}\n"

    return _buffered(pieces())


def _cell(value: str) -> str:
    """Text a spreadsheet would run as a formula gets a leading apostrophe (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def iter_csv(user: User) -> Iterator[str]:
    """tag,paper_id,negative,added,title rows (with a header), produced piece by piece."""
    user_id = user.id
    query = (
        select(Tag.name, TagPaper.paper_id, TagPaper.negative, TagPaper.added, Paper.title)
        .join(TagPaper, TagPaper.tag_id == Tag.id)
        .join(Paper, Paper.id == TagPaper.paper_id)
        .where(Tag.user_id == user_id)
        .order_by(Tag.name, TagPaper.added, TagPaper.paper_id)
        .execution_options(yield_per=_BATCH)
    )

    def pieces() -> Iterator[str]:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        for name, pid, negative, added, title in db.session.execute(query):
            writer.writerow([_cell(name), pid, int(bool(negative)), isoformat(added), _cell(title)])
            yield out.getvalue()
            out.seek(0)
            out.truncate()
        yield out.getvalue()

    return _buffered(pieces())


def tag_papers(user: User, name: str) -> list[Paper] | None:
    """The positive papers of a user's tag (`all`: of every tag, each once), oldest membership
    first; None if no such tag."""
    query = (
        select(Paper, TagPaper.added)
        .join(TagPaper, TagPaper.paper_id == Paper.id)
        .join(Tag, Tag.id == TagPaper.tag_id)
        .where(Tag.user_id == user.id, TagPaper.negative.is_(False))
        .order_by(TagPaper.added, Paper.id)
    )
    if name != "all":
        tag = db.session.scalar(select(Tag).where(Tag.user_id == user.id, Tag.name == name))
        if tag is None:
            return None
        query = query.where(Tag.id == tag.id)
    papers = {}
    for paper, _ in db.session.execute(query):
        papers.setdefault(paper.id, paper)
    return list(papers.values())
