"""A user's tags: named sets of papers, positive or "not interested" (negative)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from .db import db
from .models import Paper, Tag, TagPaper, User

MAX_TAG_LENGTH = 64
RESERVED = {"all"}


class TagError(ValueError):
    """A tag request that cannot be done; the message says why."""


def check_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise TagError("tag names cannot be empty")
    if len(name) > MAX_TAG_LENGTH:
        raise TagError(f"tag names have at most {MAX_TAG_LENGTH} characters")
    if any(c in name for c in "/,") or not name.isprintable():
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
        raise LookupError(f"paper {paper_id} is not in this database")
    tag = find_tag(user, name)
    if tag is None:
        tag = Tag(user_id=user.id, name=name)
        db.session.add(tag)
        db.session.flush()
    entry = db.session.get(TagPaper, (tag.id, paper_id))
    if entry is None:
        entry = TagPaper(tag_id=tag.id, paper_id=paper_id, negative=negative)
        db.session.add(entry)
    else:
        entry.negative = negative
    db.session.commit()
    return entry


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
        raise LookupError(f"no tag named {old!r}")
    new = check_name(new)
    if new == tag.name:
        return tag
    target = find_tag(user, new)
    if target is None:
        tag.name = new
        db.session.commit()
        return tag
    for entry in list(tag.entries):
        if db.session.get(TagPaper, (target.id, entry.paper_id)) is None:
            db.session.add(TagPaper(tag_id=target.id, paper_id=entry.paper_id,
                                    negative=entry.negative, added=entry.added))  # fmt: skip
    db.session.delete(tag)
    db.session.commit()
    return target


def _entries(user: User):
    return db.session.execute(
        select(Tag.name, TagPaper.paper_id, TagPaper.negative, TagPaper.added)
        .join(TagPaper, TagPaper.tag_id == Tag.id)
        .where(Tag.user_id == user.id)
        .order_by(Tag.name, TagPaper.added.desc())
    ).all()


def user_tags(user: User) -> dict[str, dict[str, list[str]]]:
    """{tag: {"positive": [ids], "negative": [ids]}}, newest first, empty tags included."""
    names = db.session.scalars(select(Tag.name).where(Tag.user_id == user.id).order_by(Tag.name))
    out: dict[str, dict[str, list[str]]] = {n: {"positive": [], "negative": []} for n in names}
    for name, pid, negative, _ in _entries(user):
        out[name]["negative" if negative else "positive"].append(pid)
    return out


def tagged_ids(user: User) -> set[str]:
    """Every paper the user tagged, positively or not."""
    return {pid for _, pid, _, _ in _entries(user)}


def tags_of_papers(user: User, paper_ids: list[str]) -> dict[str, list[tuple[str, bool]]]:
    """For a page of papers: paper id -> [(tag, negative)], for the tag controls."""
    if not paper_ids:
        return {}
    rows = db.session.execute(
        select(TagPaper.paper_id, Tag.name, TagPaper.negative)
        .join(Tag, Tag.id == TagPaper.tag_id)
        .where(Tag.user_id == user.id, TagPaper.paper_id.in_(paper_ids))
        .order_by(Tag.name)
    )
    out: dict[str, list[tuple[str, bool]]] = {}
    for pid, name, negative in rows:
        out.setdefault(pid, []).append((name, negative))
    return out


def resolve(user: User, names: list[str]) -> tuple[list[str], list[str]]:
    """(positive ids, negative ids) of the named tags ("all" for every tag)."""
    tags = user_tags(user)
    if names == ["all"] or not names:
        chosen = list(tags)
    else:
        missing = [n for n in names if n not in tags]
        if missing:
            raise LookupError(f"no tag named {missing[0]!r}")
        chosen = names
    positive = {pid for n in chosen for pid in tags[n]["positive"]}
    negative = {pid for n in tags for pid in tags[n]["negative"]}  # "not interested" anywhere
    return sorted(positive), sorted(negative - positive)


def recommend_for_tags(
    user: User,
    names: list[str],
    limit: int = 25,
    C: float | None = None,
    days: float | None = None,
    category: str | None = None,
    include_tagged: bool = False,
    now: datetime | None = None,
):
    """SVM recommendations for the union of the named tags; every tagged paper is excluded."""
    from . import engine

    positive, negative = resolve(user, names)
    if not positive:
        return engine.Result([], [])
    others = [] if include_tagged else sorted(tagged_ids(user) - set(positive) - set(negative))
    return engine.recommend(
        positive,
        negative,
        limit,
        C=C,
        days=days,
        category=category,
        now=now,
        include_tagged=include_tagged,
        hidden_ids=others,
    )
