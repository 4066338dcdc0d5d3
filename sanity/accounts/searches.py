"""Saved searches: a user's named queries, whose new matches the page, feeds and digests show."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from sanity.accounts.quotas import exceeded
from sanity.db import db
from sanity.models import SavedSearch, User
from sanity.query import QueryError, parse_query


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
    if category is not None and (len(category) > 64 or not category.strip()):
        raise SearchError("the category must be an arXiv category such as cs.LG")
    taken = db.session.scalar(
        select(SavedSearch).where(SavedSearch.user_id == user.id, SavedSearch.name == name)
    )
    if taken is not None:
        raise LookupError(f"you already have a saved search named {name!r}")
    held = db.session.scalar(
        select(func.count()).select_from(SavedSearch).where(SavedSearch.user_id == user.id)
    )
    message = exceeded("MAX_SAVED_SEARCHES", (held or 0) + 1)
    if message:
        raise SearchError(message)
    saved = SavedSearch(
        user_id=user.id, name=name, query=query.strip(), category=category or None, seen=now
    )
    db.session.add(saved)
    try:
        db.session.commit()
    except IntegrityError:  # a concurrent request saved the same name first
        db.session.rollback()
        raise LookupError(f"you already have a saved search named {name!r}") from None
    return saved
