"""Daily digests: each subscriber's new recommendations per tag and new saved-search matches.

Recommendations come from the papers of the latest announcement days (published within
DIGEST_DAYS of the newest paper); saved searches contribute their new matches (as on their
page). A digest never repeats a paper the user tagged or was already sent. Papers are recorded
as sent only after the server accepted the message, together with the time of the digest, so a
retried run sends nothing twice; one user's failure is logged and the run goes on.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import Select, func, select

from sanity import engine
from sanity.accounts.searches import saved_searches
from sanity.accounts.tags import tagged_ids, training_sets, user_tags
from sanity.db import db
from sanity.engine.search import new_matches
from sanity.leases import DIGEST_LOCK, Lease
from sanity.mail.digest_render import render
from sanity.mail.send import Mailer, MailError
from sanity.models import DigestSent, Paper, SavedSearch, User
from sanity.papers import Filters
from sanity.query import QueryError
from sanity.timeutil import as_utc, get_clock

log = logging.getLogger(__name__)


@dataclass
class Window:
    """The papers a digest may include: published in [newest - days, newest]."""

    newest: datetime  # the newest paper's publication time
    days: float
    newest_added: datetime  # when the newest paper arrived here

    @property
    def start(self) -> datetime:
        return self.newest - timedelta(days=self.days)


@dataclass
class Section:
    """One part of a digest: recommendations for a tag, or new matches of a saved search."""

    kind: str  # "tag" | "search"
    name: str
    papers: list[Paper]
    query: str = ""


@dataclass
class Digest:
    user: User
    sections: list[Section] = field(default_factory=list)

    @property
    def papers(self) -> list[Paper]:
        return [p for s in self.sections for p in s.papers]

    def count(self, kind: str) -> int:
        return sum(len(s.papers) for s in self.sections if s.kind == kind)

    @property
    def subject(self) -> str:
        n = len(self.papers)
        return f"sanity digest: {n} new paper{'s' if n != 1 else ''} for you"


@dataclass
class RunStats:
    recipients: int = 0
    sent: int = 0
    skipped: int = 0  # nothing new
    failed: int = 0
    papers: int = 0
    dry_run: bool = False

    def summary(self) -> str:
        verb = "would send" if self.dry_run else "sent"
        return (
            f"digests: {self.recipients} subscribers, {verb} {self.sent} "
            f"({self.papers} papers), {self.skipped} with nothing new, {self.failed} failed"
        )


# ---- what goes into a digest ----


def recipients() -> Select:
    """Users who turned digests on and have a verified address."""
    return (
        select(User)
        .where(User.digest_enabled.is_(True), User.email_verified.is_(True))
        .where(User.email.is_not(None), User.email != "", User.is_disabled.is_(False))
        .order_by(User.id)
    )


def latest_window(days: float) -> Window | None:
    """The latest `days` announcement days, or None without papers."""
    newest, added = db.session.execute(
        select(func.max(Paper.published), func.max(Paper.added))
    ).one()
    if newest is None:
        return None
    return Window(as_utc(newest), float(days), as_utc(added))


def is_due(user: User, window: Window) -> bool:
    """Papers arrived since the user's last digest (a retried run skips who already got one)."""
    return user.last_digest is None or window.newest_added > as_utc(user.last_digest)


def _pick(ranked, taken: set[str], limit: int) -> list[Paper]:
    out = []
    for paper, _score in ranked:
        if paper.id not in taken and len(out) < limit:
            taken.add(paper.id)
            out.append(paper)
    return out


def saved_search_matches(saved: SavedSearch, limit: int) -> list[Paper]:
    """New matches of a saved search (added since it was last seen, as on its page)."""
    try:
        return new_matches(saved, limit)
    except QueryError as exc:
        log.warning("saved search %d skipped: %s", saved.id, exc)
        return []


def _sent_among(user: User, paper_ids: list[str]) -> set[str]:
    if not paper_ids:
        return set()
    found = select(DigestSent.paper_id).where(
        DigestSent.user_id == user.id, DigestSent.paper_id.in_(paper_ids)
    )
    return set(db.session.scalars(found))


def build(user: User, window: Window, limit: int, use_engine: bool = True) -> Digest:
    """The user's digest: top `limit` new papers per tag and per saved search."""
    sent = set(
        db.session.scalars(
            select(DigestSent.paper_id)
            .join(Paper, Paper.id == DigestSent.paper_id)
            .where(DigestSent.user_id == user.id, Paper.published >= window.start)
        )
    )
    tags = user_tags(user)
    taken = sent | tagged_ids(tags)  # a paper appears once: skipped, or in its first section
    digest = Digest(user)
    filters = Filters(days=window.days, now=window.newest)
    if use_engine:
        for name, entry in tags.items():
            if not entry["positive"]:
                continue
            extra = len(sent) + digest.count("tag")  # asked for, then filtered out
            result = engine.recommend(
                training_sets(tags, [name]), limit=limit + extra, filters=filters
            )
            papers = _pick(result.papers, taken, limit)
            if papers:
                digest.sections.append(Section("tag", name, papers))
    for saved in saved_searches(user):
        found = saved_search_matches(saved, limit + len(taken))
        taken |= _sent_among(user, [p.id for p in found])  # matches may predate the window
        papers = _pick(((p, None) for p in found), taken, limit)
        if papers:
            digest.sections.append(Section("search", saved.name, papers, saved.query))
    return digest


# ---- after sending ----


def record(digest: Digest, window: Window, now: datetime) -> None:
    """After a successful send: the papers, the digest's time and the searches' "seen", at once."""
    user = digest.user
    for paper in digest.papers:
        db.session.add(DigestSent(user_id=user.id, paper_id=paper.id, sent=now))
    # Never earlier than the newest paper it covered, so that a retry finds nothing new.
    user.last_digest = max(now, window.newest_added)
    for saved in saved_searches(user):
        saved.seen = max(as_utc(saved.seen), window.newest_added)
    db.session.commit()


# ---- a run ----


def _engine_ready() -> bool:
    try:
        engine.current()
        return True
    except engine.EngineUnavailable as exc:
        log.warning("digests without recommendations: %s", exc)
        return False


def _describe(digest: Digest) -> str:
    tags = sum(1 for s in digest.sections if s.kind == "tag")
    searches = len(digest.sections) - tags
    return (
        f"{digest.user.username} <{digest.user.email}>: {len(digest.papers)} papers "
        f"({digest.count('tag')} recommended for {tags} tags, "
        f"{digest.count('search')} from {searches} saved searches): {digest.subject!r}"
    )


def run(dry_run: bool = False, echo: Callable[[str], None] | None = None) -> RunStats:
    """Send every subscriber who has something new their digest; dry_run only reports.

    Raises LockBusy if another process is sending digests.
    """
    cfg = current_app.config
    clock = get_clock()
    stats = RunStats(dry_run=dry_run)
    users = list(db.session.scalars(recipients()))
    stats.recipients = len(users)
    window = latest_window(float(cfg["DIGEST_DAYS"]))
    if window is None:
        log.info("no papers yet: no digests")
        stats.skipped = len(users)
        return stats
    lease = Lease.for_job(DIGEST_LOCK, clock)
    with contextlib.nullcontext() if dry_run else lease, Mailer() as mailer:
        batch = _Batch(
            window=window,
            limit=int(cfg["DIGEST_MAX_PAPERS"]),
            use_engine=_engine_ready(),
            mailer=mailer,
            stats=stats,
            dry_run=dry_run,
            echo=echo or log.info,
        )
        for user in users:
            if not dry_run:
                lease.keep()
            batch.one(user)
    return stats


@dataclass
class _Batch:
    """One run's settings and counts; one() handles a user and never raises."""

    window: Window
    limit: int
    use_engine: bool
    mailer: Mailer
    stats: RunStats
    dry_run: bool
    echo: Callable[[str], None]

    def one(self, user: User) -> None:
        name = user.username
        try:
            digest = Digest(user)
            if is_due(user, self.window):
                digest = build(user, self.window, self.limit, self.use_engine)
            if not digest.papers:
                self.stats.skipped += 1
                if self.dry_run:
                    self.echo(f"{name}: nothing new")
                return
            if self.dry_run:
                self.echo(f"would send to {_describe(digest)}")
            else:
                self._send(digest)
        except MailError as exc:
            db.session.rollback()
            self.stats.failed += 1
            log.error("digest for %s not sent: %s", name, exc)
            return
        except Exception:
            db.session.rollback()
            self.stats.failed += 1
            log.exception("digest for %s failed", name)
            return
        self.stats.sent += 1
        self.stats.papers += len(digest.papers)

    def _send(self, digest: Digest) -> None:
        now = get_clock().now()
        self.mailer.send(render(digest, now))
        try:
            record(digest, self.window, now)
        except Exception:
            log.error("digest for %s was sent but not recorded", digest.user.username)
            raise
        log.info("digest sent to %s: %d papers", digest.user.username, len(digest.papers))
