"""A user's whole library (tags with polarity, saved searches): export as JSON/CSV, restore.

Exports stream row by row, so a library of any size costs constant memory. Restoring merges:
it creates missing tags, memberships and saved searches, gives existing memberships the
exported polarity, and never deletes anything, so importing the same file twice changes nothing.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from sanity.accounts.quotas import exceeded
from sanity.accounts.tags import Membership, TagError, check_name, merge
from sanity.arxiv import parse_datetime, parse_id
from sanity.db import db
from sanity.models import Paper, SavedSearch, Tag, TagPaper, User
from sanity.papers import known_paper_ids
from sanity.query import QueryError, parse_query
from sanity.timeutil import isoformat

VERSION = 1
CSV_COLUMNS = ["tag", "paper_id", "negative", "added", "title"]
_BATCH = 1000  # rows fetched at a time while streaming
_FLUSH_CHARS = 64 * 1024


class LibraryError(ValueError):
    """An import body that does not have the export's structure; the message says where."""


# ---- export ----


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


# ---- import ----


@dataclass
class Search:
    name: str
    query: str
    category: str | None


@dataclass
class Library:
    tags: dict[str, dict[str, Membership]] = field(default_factory=dict)
    searches: dict[str, Search] = field(default_factory=dict)


def _entry(where: str, item: object) -> tuple[str, Membership]:
    """One paper of a tag: {"id", "added"?, "negative"?} or a bare id string."""
    if isinstance(item, str):
        item = {"id": item}
    if not isinstance(item, dict):
        raise LibraryError(f"{where} must be an object with an id")
    raw = item.get("id")
    if not isinstance(raw, str):
        raise LibraryError(f"{where}.id must be a string")
    try:
        pid = parse_id(raw)[0]
    except ValueError:
        raise LibraryError(f"{where}.id is not an arXiv id: {raw[:80]!r}") from None
    negative = item.get("negative", False)
    if not isinstance(negative, bool):
        raise LibraryError(f"{where}.negative must be true or false")
    added = item.get("added")
    if added is not None:
        parsed = parse_datetime(added) if isinstance(added, str) else None
        if parsed is None:
            raise LibraryError(f"{where}.added must be an ISO 8601 time")
        added = parsed
    return pid, Membership(negative, added)


def _tags(raw: object) -> dict[str, dict[str, Membership]]:
    if not isinstance(raw, dict):
        raise LibraryError("tags must be an object mapping tag names to lists of papers")
    out: dict[str, dict[str, Membership]] = {}
    for name, items in raw.items():
        where = f"tags[{json.dumps(name)[:100]}]"
        try:
            clean = check_name(name)
        except TagError as exc:
            raise LibraryError(f"{where}: {exc}") from None
        if not isinstance(items, list):
            raise LibraryError(f"{where} must be a list of papers")
        entries = out.setdefault(clean, {})
        for i, item in enumerate(items):
            pid, entry = _entry(f"{where}[{i}]", item)
            entries[pid] = entry
    return out


def _text(where: str, value: object, limit: int, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise LibraryError(f"{where} must be a string")
    value = value.strip()
    if required and not value:
        raise LibraryError(f"{where} cannot be empty")
    if len(value) > limit:
        raise LibraryError(f"{where} has more than {limit} characters")
    return value or None


def _searches_in(raw: object) -> dict[str, Search]:
    if not isinstance(raw, list):
        raise LibraryError("saved_searches must be a list")
    out: dict[str, Search] = {}
    for i, item in enumerate(raw):
        where = f"saved_searches[{i}]"
        if not isinstance(item, dict):
            raise LibraryError(f"{where} must be an object with name and query")
        name = _text(f"{where}.name", item.get("name"), 100)
        query = _text(f"{where}.query", item.get("query"), 1000)
        try:
            parse_query(query)
        except QueryError as exc:
            raise LibraryError(f"{where}.query: {exc}") from None
        category = _text(f"{where}.category", item.get("category"), 64, required=False)
        if category and any(c.isspace() for c in category):
            raise LibraryError(f"{where}.category must be one arXiv category such as cs.LG")
        out[name] = Search(name, query, category)
    return out


def parse(body: object) -> Library:
    """Check an import body (the export format) completely; LibraryError names the problem."""
    if not isinstance(body, dict):
        raise LibraryError("send a JSON object in the format GET /api/library returns")
    if body.get("version") != VERSION:
        raise LibraryError(f"version must be {VERSION}")
    parsed = Library(
        tags=_tags(body.get("tags", {})),
        searches=_searches_in(body.get("saved_searches", [])),
    )
    _check_size(parsed)
    return parsed


def _check_size(parsed: Library) -> None:
    """The import on its own within the quotas (restore checks it with what is held)."""
    checks = [
        ("MAX_LIBRARY_IMPORT_PAPERS", sum(len(e) for e in parsed.tags.values()), ""),
        ("MAX_TAGS_PER_USER", len(parsed.tags), ""),
        ("MAX_SAVED_SEARCHES", len(parsed.searches), ""),
    ]
    checks += [("MAX_PAPERS_PER_TAG", len(e), f"tag {n!r}") for n, e in parsed.tags.items()]
    for key, count, where in checks:
        message = exceeded(key, count, where)
        if message:
            raise LibraryError(message)


@dataclass
class RestoreResult:
    tags_created: int = 0
    papers_added: int = 0
    papers_updated: int = 0
    papers_unchanged: int = 0
    skipped: list[str] = field(default_factory=list)  # ids not in this database
    saved_searches_created: int = 0
    saved_searches_updated: int = 0
    saved_searches_unchanged: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def restore(user: User, library: Library) -> RestoreResult:
    """Merge a parsed library into the user's (see the module docstring). Commits."""
    result = RestoreResult()
    known = known_paper_ids({pid for entries in library.tags.values() for pid in entries})
    result.skipped = sorted({pid for e in library.tags.values() for pid in e} - known)
    _restore_tags(user, library.tags, known, result)
    _restore_searches(user, library.searches, result)
    db.session.commit()
    return result


def _restore_tags(user: User, wanted: dict, known: set[str], result: RestoreResult) -> None:
    entries = {
        name: {pid: Membership(e.negative, e.added) for pid, e in items.items() if pid in known}
        for name, items in wanted.items()
    }
    try:
        counts = merge(user, entries, set_polarity=True)
    except TagError as exc:  # a quota, counting what the user already has
        raise LibraryError(str(exc)) from None
    result.tags_created = counts.tags_created
    result.papers_added = counts.added
    result.papers_updated = counts.updated
    result.papers_unchanged = counts.unchanged


def _restore_searches(user: User, searches: dict[str, Search], result: RestoreResult) -> None:
    held = {
        s.name: s
        for s in db.session.scalars(select(SavedSearch).where(SavedSearch.user_id == user.id))
    }
    for name, search in searches.items():
        found = held.get(name)
        if found is None:
            db.session.add(
                SavedSearch(user_id=user.id, name=name, query=search.query,
                            category=search.category)
            )  # fmt: skip
            result.saved_searches_created += 1
            message = exceeded("MAX_SAVED_SEARCHES", len(held) + result.saved_searches_created)
            if message:
                db.session.rollback()
                raise LibraryError(message)
        elif (found.query, found.category) != (search.query, search.category):
            found.query, found.category = search.query, search.category
            result.saved_searches_updated += 1
        else:
            result.saved_searches_unchanged += 1
