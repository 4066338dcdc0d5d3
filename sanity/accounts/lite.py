"""Accounts and tags from an arxiv-sanity-lite dict.db: users are created without passwords
(they set one by password reset) and their tags merged into ours as positives."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sanity.accounts.tags import MAX_TAG_LENGTH, Membership, TagError, check_name, merge
from sanity.accounts.users import AccountError, check_email, create_user, find_user
from sanity.arxiv import parse_id
from sanity.db import db
from sanity.ingest.lite import LiteUser
from sanity.models import User
from sanity.papers import known_paper_ids

log = logging.getLogger(__name__)


@dataclass
class UserStats:
    created: int = 0
    merged: int = 0
    skipped: int = 0
    tags_created: int = 0
    added: int = 0
    present: int = 0
    unknown: int = 0  # memberships skipped: paper not in this database
    unknown_ids: set[str] = field(default_factory=set)


def tag_name(raw: str) -> str | None:
    """Lite's tag name as one of ours: '/' and ',' become '-', cut to the length limit."""
    try:
        return check_name(raw)
    except TagError:
        pass
    fixed = " ".join(raw.replace("/", "-").replace(",", "-").split())[:MAX_TAG_LENGTH].strip()
    fixed = "".join(c for c in fixed if c.isprintable())
    try:
        return check_name(fixed)
    except TagError:
        return None


def _normal_ids(ids: set[str], aliases: dict[str, str]) -> set[str]:
    out = set()
    for pid in ids:
        if pid in aliases:
            out.add(aliases[pid])
            continue
        try:
            out.add(parse_id(pid)[0])
        except ValueError:
            out.add(pid)  # counted as unknown below
    return out


def _account(lite: LiteUser, trust_emails: bool, stats: UserStats, report) -> User | None:
    user = find_user(lite.name)
    if user is not None:
        stats.merged += 1
        return user
    try:
        email = check_email(lite.email)
    except AccountError:
        report(f"user {lite.name[:80]!r}: ignoring invalid email address {lite.email[:80]!r}")
        email = None
    try:
        user = create_user(lite.name, None, email, email_verified=trust_emails and bool(email))
    except AccountError as exc:
        stats.skipped += 1
        report(f"skipped user {lite.name[:80]!r}: {exc}")
        return None
    stats.created += 1
    return user


def import_users(
    users: list[LiteUser],
    trust_emails: bool = False,
    report: Callable[[str], None] = log.warning,
    aliases: dict[str, str] | None = None,
) -> UserStats:
    """Create missing accounts (no password) and merge every user's tags in, as positives.

    Commits per user; `aliases` maps lite's paper keys to our ids where they differ.
    """
    stats = UserStats()
    aliases = aliases or {}
    all_ids = set().union(*(_normal_ids(ids, aliases) for u in users for ids in u.tags.values()))
    known = known_paper_ids(all_ids)
    for lite in users:
        user = _account(lite, trust_emails, stats, report)
        if user is not None:
            _merge_tags(user, lite, known, aliases, stats, report)
            db.session.commit()
    return stats


def _merge_tags(user: User, lite: LiteUser, known: set[str], aliases: dict, stats: UserStats,
                report) -> None:  # fmt: skip
    wanted: dict[str, dict[str, Membership]] = {}
    for raw, ids in lite.tags.items():
        name = tag_name(raw)
        if name is None:
            report(f"user {lite.name[:80]!r}: skipped tag {raw[:80]!r} (unusable name)")
            continue
        if name != raw:
            report(f"user {lite.name[:80]!r}: tag {raw[:80]!r} imported as {name!r}")
        entries = wanted.setdefault(name, {})
        for pid in sorted(_normal_ids(ids, aliases)):
            if pid in known:
                entries[pid] = Membership()
            else:
                stats.unknown += 1
                stats.unknown_ids.add(pid)
    try:
        counts = merge(user, wanted, set_polarity=False)
    except TagError as exc:  # over a quota: this user's tags stay out, the others go in
        report(f"user {lite.name[:80]!r}: tags not imported: {exc}")
        return
    stats.tags_created += counts.tags_created
    stats.added += counts.added
    stats.present += counts.unchanged
