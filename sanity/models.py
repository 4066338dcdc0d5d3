"""Typed SQLAlchemy 2.0 models: papers, users, tags (with polarity), thumbnails, crawl runs,
job locks."""

from __future__ import annotations

import secrets
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sanity.db import db
from sanity.timeutil import utcnow


class Paper(db.Model):
    """One arXiv paper, keyed by its id without version; a newer version replaces it in place."""

    __tablename__ = "papers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # None when the source did not say (OAI-PMH's arXiv format has no version numbers).
    version: Mapped[int | None] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    abstract: Mapped[str] = mapped_column(Text)
    authors: Mapped[list] = mapped_column(JSON)
    primary_category: Mapped[str] = mapped_column(String(64), index=True, default="")
    # All categories, primary first, space-separated: filterable with one LIKE on both databases.
    categories: Mapped[str] = mapped_column(Text, default="")
    published: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    comment: Mapped[str | None] = mapped_column(Text)
    journal_ref: Mapped[str | None] = mapped_column(Text)
    doi: Mapped[str | None] = mapped_column(String(255))
    license: Mapped[str | None] = mapped_column(String(255))
    added: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)

    @property
    def category_list(self) -> list[str]:
        return self.categories.split()

    def __repr__(self) -> str:
        return f"<Paper {self.id}v{self.version}>"


class User(UserMixin, db.Model):
    """An account; usernames are unique case-insensitively (username_key is the folded form)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    username_key: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(255))
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    digest_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    # Unguessable key in feed URLs (feed readers do not log in); None until first asked for.
    feed_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    last_digest: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Changing it signs the user out everywhere (sessions and remember-me cookies carry it).
    session_token: Mapped[str] = mapped_column(String(64), default=lambda: secrets.token_hex(16))

    tags: Mapped[list[Tag]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )
    tokens: Mapped[list[ApiToken]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def is_active(self) -> bool:
        return not self.is_disabled

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}"


class SavedSearch(db.Model):
    """A query a user keeps, to see its new matches (page, digest, feed)."""

    __tablename__ = "saved_searches"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    query: Mapped[str] = mapped_column(String(1000))
    category: Mapped[str | None] = mapped_column(String(64))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Papers added after this are "new" for the user.
    seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DigestSent(db.Model):
    """A paper already mailed to a user: never sent twice, even when a run is retried."""

    __tablename__ = "digest_sent"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    paper_id: Mapped[str] = mapped_column(
        ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True
    )
    sent: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiToken(db.Model):
    """A personal API token, stored as a SHA-256 hash; only its prefix is shown again."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship(back_populates="tokens")


class Tag(db.Model):
    """A user's named collection of papers."""

    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    user: Mapped[User] = relationship(back_populates="tags")
    entries: Mapped[list[TagPaper]] = relationship(
        back_populates="tag", cascade="all, delete-orphan", passive_deletes=True
    )


class TagPaper(db.Model):
    """Membership of a paper in a tag; negative=True means "not interested"."""

    __tablename__ = "tag_papers"

    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)
    paper_id: Mapped[str] = mapped_column(
        ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    negative: Mapped[bool] = mapped_column(Boolean, default=False)
    added: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    tag: Mapped[Tag] = relationship(back_populates="entries")


class Thumbnail(db.Model):
    """A paper's first-pages strip (status ok, the file in DATA_DIR/thumbs), or why it has
    none: failed (never fetched again) or retry (arXiv did not answer; tried again later)."""

    __tablename__ = "thumbnails"

    paper_id: Mapped[str] = mapped_column(
        ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(255))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    width: Mapped[int] = mapped_column(Integer, default=0)
    height: Mapped[int] = mapped_column(Integer, default=0)
    size: Mapped[int] = mapped_column(Integer, default=0)  # bytes of the image
    made: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CrawlRun(db.Model):
    """One crawl or harvest run: what it did, how it ended, and where the next run resumes."""

    __tablename__ = "crawl_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="api", index=True)
    started: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # running | ok | partial (stopped early, resumable) | failed
    status: Mapped[str] = mapped_column(String(16), default="running")
    pages: Mapped[int] = mapped_column(Integer, default=0)
    requests: Mapped[int] = mapped_column(Integer, default=0)
    new: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    # Where the next run picks up: {"gaps": [[lo, hi], ...]} for the API crawler,
    # {"token": ..., "from": ..., "set": ...} for an OAI-PMH harvest.
    resume: Mapped[dict | None] = mapped_column(JSON)

    @classmethod
    def latest(cls, kind: str = "api"):
        """Select the newest runs of one kind, newest first."""
        return select(cls).where(cls.kind == kind).order_by(cls.id.desc())


class JobLock(db.Model):
    """A named lock with a lease: a holder that dies stops blocking others once it expires."""

    __tablename__ = "job_locks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    acquired: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RateLimitCounter(db.Model):
    """One fixed-window rate-limit counter, shared by every web worker (sanity/ratelimit.py)."""

    __tablename__ = "rate_limits"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    hits: Mapped[int] = mapped_column(Integer, nullable=False)
    expires_at: Mapped[float] = mapped_column(Float, nullable=False, index=True)
