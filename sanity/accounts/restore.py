"""Restoring a user's library from an uploaded export (the format `library` writes). `parse`
checks the upload completely, and its LibraryError says where it is wrong or which quota it
exceeds; `restore` then merges: it creates missing tags, memberships and saved searches, gives
existing memberships the exported polarity, and never deletes anything, so importing the same file
twice changes nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy import select

from sanity.accounts.library import VERSION
from sanity.accounts.quotas import exceeded
from sanity.accounts.tags import Membership, TagError, check_name, merge
from sanity.arxiv import parse_datetime, parse_id
from sanity.db import db
from sanity.models import SavedSearch, User
from sanity.papers import known_paper_ids
from sanity.query import QueryError, parse_query


class LibraryError(ValueError):
    """An import body that does not have the export's structure; the message says where."""


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
