"""Popular papers: the ones this instance's users tag most. A user counts once per paper (however
many of their tags hold it); "not interested" entries and disabled accounts do not count. Only
the number of taggers is ever shown, never who they are."""

from __future__ import annotations

from sqlalchemy import Select, func, select

from sanity.db import db
from sanity.models import Paper, Tag, TagPaper, User
from sanity.papers import NEWEST_FIRST, NO_FILTERS, Filters


def tagger_counts():
    """paper_id -> how many enabled users tagged it positively, as a subquery."""
    return (
        select(TagPaper.paper_id, func.count(Tag.user_id.distinct()).label("count"))
        .join(Tag, Tag.id == TagPaper.tag_id)
        .join(User, User.id == Tag.user_id)
        .where(TagPaper.negative.is_(False), User.is_disabled.is_(False))
        .group_by(TagPaper.paper_id)
        .subquery()
    )


def popular_select(filters: Filters = NO_FILTERS) -> Select:
    """(Paper, count) rows, most taggers first, then newest; every paper with at least one."""
    counts = tagger_counts()
    query = select(Paper, counts.c.count).join(counts, counts.c.paper_id == Paper.id)
    return filters.apply(query).order_by(counts.c.count.desc(), *NEWEST_FIRST)


def popular_page(filters: Filters, page: int, per_page: int) -> tuple[list[tuple[Paper, int]], int]:
    """One page of popular_select as (paper, count) pairs, and how many there are in all."""
    query = popular_select(filters)
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = db.session.execute(query.limit(per_page).offset((page - 1) * per_page))
    return [(paper, count) for paper, count in rows], total or 0
