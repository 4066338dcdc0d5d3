"""A user's tags: named sets of papers, positive or "not interested" (negative), and the
training sets recommendations learn from."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from sanity.accounts.quotas import exceeded
from sanity.db import db
from sanity.models import Paper, Tag, TagPaper, User
from sanity.timeutil import utcnow

MAX_TAG_LENGTH = 64
RESERVED = {"all"}


class TagError(ValueError):
    """A tag request that cannot be done; the message says why."""


class UnknownTag(LookupError):
    """The user has no tag of that name."""


class UnknownPaper(LookupError):
    """The paper is not in this database."""


def check_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise TagError("tag names cannot be empty")
    if len(name) > MAX_TAG_LENGTH:
        raise TagError(f"tag names have at most {MAX_TAG_LENGTH} characters")
    if any(c in "/," or unicodedata.category(c) == "Cc" for c in name):
        raise TagError("tag names cannot contain '/', ',' or control characters")
    if name.lower() in RESERVED:
        raise TagError(f"'{name}' is reserved")
    return name


def find_tag(user: User, name: str) -> Tag | None:
    return db.session.scalar(select(Tag).where(Tag.user_id == user.id, Tag.name == name))


def add_paper(user: User, name: str, paper_id: str, negative: bool = False) -> TagPaper:
    """Put a paper in a tag (creating the tag), or switch its polarity. Commits."""
    name = check_name(name)
    if db.session.get(Paper, paper_id) is None:
        raise UnknownPaper(f"paper {paper_id} is not in this database")
    tag = find_tag(user, name)
    if tag is None:
        _check_quota("MAX_TAGS_PER_USER", _count(Tag, Tag.user_id == user.id) + 1)
        tag = insert_or_get(Tag(user_id=user.id, name=name), lambda: find_tag(user, name))
    entry = db.session.get(TagPaper, (tag.id, paper_id))
    if entry is None:
        _check_quota(
            "MAX_PAPERS_PER_TAG", _count(TagPaper, TagPaper.tag_id == tag.id) + 1, f"tag {name!r}"
        )
        entry = insert_or_get(
            TagPaper(tag_id=tag.id, paper_id=paper_id, negative=negative),
            lambda: db.session.get(TagPaper, (tag.id, paper_id)),
        )
    entry.negative = negative
    db.session.commit()
    return entry


def _count(model, where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(where)) or 0


def _check_quota(key: str, count: int, where: str = "") -> None:
    message = exceeded(key, count, where)
    if message:
        db.session.rollback()
        raise TagError(message)


def insert_or_get(row, existing):
    """Insert `row`, or, when a concurrent request inserted the same one first (the unique
    constraint says so), return that one from `existing()`."""
    try:
        with db.session.begin_nested():
            db.session.add(row)
        return row
    except IntegrityError:
        found = existing()
        if found is None:
            raise
        return found


def remove_paper(user: User, name: str, paper_id: str) -> bool:
    """Take a paper out of a tag; True if it was there. Commits."""
    tag = find_tag(user, name)
    if tag is None:
        return False
    entry = db.session.get(TagPaper, (tag.id, paper_id))
    if entry is None:
        return False
    db.session.delete(entry)
    db.session.commit()
    return True


def delete_tag(user: User, name: str) -> bool:
    tag = find_tag(user, name)
    if tag is None:
        return False
    db.session.execute(delete(TagPaper).where(TagPaper.tag_id == tag.id))
    db.session.delete(tag)
    db.session.commit()
    return True


def rename_tag(user: User, old: str, new: str) -> Tag:
    """Rename a tag; renaming onto an existing tag merges them. Commits."""
    tag = find_tag(user, old)
    if tag is None:
        raise UnknownTag(f"no tag named {old!r}")
    new = check_name(new)
    if new == tag.name:
        return tag
    if find_tag(user, new) is None:
        tag.name = new
        try:
            db.session.commit()
        except IntegrityError:  # the new name was created concurrently: merge into it
            db.session.rollback()
            return rename_tag(user, old, new)
        return tag
    entries = {e.paper_id: Membership(e.negative, e.added) for e in tag.entries}
    merge(user, {new: entries}, set_polarity=False)
    db.session.delete(tag)
    db.session.commit()
    return find_tag(user, new)


@dataclass
class Membership:
    """A paper's place in a tag: "not interested" or not, and since when (None: now)."""

    negative: bool = False
    added: datetime | None = None


@dataclass
class MergeCounts:
    tags_created: int = 0
    added: int = 0
    updated: int = 0  # memberships whose polarity changed
    unchanged: int = 0


def merge(
    user: User, wanted: dict[str, dict[str, Membership]], *, set_polarity: bool
) -> MergeCounts:
    """Merge memberships (tag name -> paper id -> Membership) into the user's tags.

    Missing tags and memberships are created; an existing membership takes the given polarity
    when `set_polarity`, else keeps its own. Nothing is deleted. Paper ids must exist. Flushes,
    does not commit (library restore, the lite import and rename-onto-existing share this)."""
    counts = MergeCounts()
    tags = {t.name: t for t in db.session.scalars(select(Tag).where(Tag.user_id == user.id))}
    held = {
        (m.tag_id, m.paper_id): m
        for m in db.session.scalars(
            select(TagPaper).join(Tag, Tag.id == TagPaper.tag_id).where(Tag.user_id == user.id)
        )
    }
    now = utcnow()
    for name, entries in wanted.items():
        tag = tags.get(name)
        if tag is None:
            tag = tags[name] = Tag(user_id=user.id, name=name)
            db.session.add(tag)
            db.session.flush()
            counts.tags_created += 1
        for pid, entry in entries.items():
            member = held.get((tag.id, pid))
            if member is None:
                held[tag.id, pid] = TagPaper(
                    tag_id=tag.id, paper_id=pid, negative=entry.negative, added=entry.added or now
                )
                db.session.add(held[tag.id, pid])
                counts.added += 1
            elif set_polarity and member.negative != entry.negative:
                member.negative = entry.negative
                counts.updated += 1
            else:
                counts.unchanged += 1
    _check_merge_quotas(tags, held)
    db.session.flush()
    return counts


def _check_merge_quotas(tags: dict[str, Tag], held: dict) -> None:
    """Quotas after a merge, before anything is written (TagError; the session rolls back)."""
    _check_quota("MAX_TAGS_PER_USER", len(tags))
    sizes: dict[int, int] = {}
    for tag_id, _ in held:
        sizes[tag_id] = sizes.get(tag_id, 0) + 1
    names = {t.id: t.name for t in tags.values()}
    for tag_id, size in sizes.items():
        _check_quota("MAX_PAPERS_PER_TAG", size, f"tag {names.get(tag_id, '')!r}")


# ---- reading a user's tags ----


TagDict = dict[str, dict[str, list[str]]]


def user_tags(user: User) -> TagDict:
    """{tag: {"positive": [ids], "negative": [ids]}}, newest first, empty tags included; one
    query."""
    rows = db.session.execute(
        select(Tag.name, TagPaper.paper_id, TagPaper.negative)
        .outerjoin(TagPaper, TagPaper.tag_id == Tag.id)
        .where(Tag.user_id == user.id)
        .order_by(Tag.name, TagPaper.added.desc(), TagPaper.paper_id)
    )
    out: TagDict = {}
    for name, pid, negative in rows:
        entry = out.setdefault(name, {"positive": [], "negative": []})
        if pid is not None:
            entry["negative" if negative else "positive"].append(pid)
    return out


def tagged_ids(tags: TagDict) -> set[str]:
    """Every paper in any of the tags, positively or not."""
    return {pid for entry in tags.values() for ids in entry.values() for pid in ids}


@dataclass(frozen=True)
class TrainingSets:
    """What recommendations for some of a user's tags learn from, and what they leave out."""

    names: list[str]
    positive: list[str]  # papers of the chosen tags
    negative: list[str]  # "not interested" in any tag (and not positive in a chosen one)
    hidden: list[str]  # the user's other tagged papers: never recommended, not learned from


def training_sets(tags: TagDict, names: list[str]) -> TrainingSets:
    """The training sets for the named tags (`[]` or `["all"]`: every tag), from `user_tags`.

    Raises UnknownTag naming the first tag the user does not have."""
    chosen = list(tags) if names in ([], ["all"]) else names
    missing = [n for n in chosen if n not in tags]
    if missing:
        raise UnknownTag(f"no tag named {missing[0]!r}")
    positive = {pid for n in chosen for pid in tags[n]["positive"]}
    negative = {pid for entry in tags.values() for pid in entry["negative"]} - positive
    hidden = tagged_ids(tags) - positive - negative
    return TrainingSets(chosen, sorted(positive), sorted(negative), sorted(hidden))
