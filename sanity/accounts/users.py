"""Accounts: usernames, passwords, API tokens. No Flask views here."""

from __future__ import annotations

import hashlib
import re
import secrets
from email.errors import HeaderParseError
from email.headerregistry import Address

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from sanity.db import db
from sanity.models import ApiToken, User
from sanity.timeutil import utcnow

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{1,31}$")
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s.]{2,}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
TOKEN_PREFIX = "sanity_"
# A fixed hash to compare against when the user does not exist, so that a failed login takes
# the same time whether or not the name is known.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


class AccountError(ValueError):
    """A request about an account that cannot be done; the message says why."""


def username_key(name: str) -> str:
    return name.strip().casefold()


def check_username(name: str) -> str:
    name = (name or "").strip()
    if not USERNAME_RE.match(name):
        raise AccountError(
            "Usernames are 2-32 characters: letters, digits, '.', '_' or '-', "
            "starting with a letter or digit."
        )
    return name


def check_password(password: str) -> str:
    if len(password or "") < MIN_PASSWORD:
        raise AccountError(f"Passwords need at least {MIN_PASSWORD} characters.")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"Passwords can have at most {MAX_PASSWORD} characters.")
    return password


def check_email(email: str | None) -> str | None:
    """Exactly one plain address (user@host.domain), or None for an empty field.

    Parsed as RFC 5322 so that lists ("a,b@x") and display forms ("x<a>y@x") are refused
    instead of reaching the mail server as several recipients.
    """
    email = (email or "").strip()
    if not email:
        return None
    try:
        parsed = Address(addr_spec=email)
    except (ValueError, IndexError, TypeError, HeaderParseError):
        parsed = None
    if parsed is None or parsed.addr_spec != email:
        raise AccountError("Enter one email address, like name@example.org (no lists or names).")
    if not EMAIL_RE.match(email) or len(email) > 254 or any(c in email for c in ',;<>()[]"\\'):
        raise AccountError("Enter one email address, like name@example.org (no lists or names).")
    return email


def find_user(name: str) -> User | None:
    return db.session.scalar(select(User).where(User.username_key == username_key(name)))


def create_user(
    name: str,
    password: str | None,
    email: str | None = None,
    *,
    admin: bool = False,
    digest: bool = False,
    email_verified: bool = False,
) -> User:
    """Create an account (password None: no password until one is set). Commits."""
    name = check_username(name)
    if find_user(name):
        raise AccountError("That username is taken.")
    user = User(
        username=name,
        username_key=username_key(name),
        email=check_email(email),
        email_verified=email_verified,
        is_admin=admin,
        digest_enabled=digest,
    )
    if password is not None:
        set_password(user, password)
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:  # registered concurrently under the same name
        db.session.rollback()
        raise AccountError("That username is taken.") from None
    return user


def set_password(user: User, password: str) -> None:
    """Hash and store a new password; every session ends, every API token is revoked and the
    feed key (if any) is replaced: whoever knew the old password keeps nothing. No commit."""
    user.password_hash = generate_password_hash(check_password(password))
    end_sessions(user)
    for token in list(user.tokens):
        db.session.delete(token)
    if user.feed_key:
        user.feed_key = secrets.token_urlsafe(24)


def end_sessions(user: User) -> None:
    """Sign the user out everywhere (session and remember-me cookies carry the token). No commit."""
    user.session_token = secrets.token_hex(16)


def check_current_password(user: User, password: str) -> bool:
    """Whether `password` is the user's password (re-authentication for sensitive changes)."""
    if user.password_hash is None:
        check_password_hash(_DUMMY_HASH, (password or "")[:MAX_PASSWORD])
        return False
    return check_password_hash(user.password_hash, (password or "")[:MAX_PASSWORD])


def authenticate(name: str, password: str) -> User | None:
    """The active user with this name and password, or None (same work either way)."""
    user = find_user(name or "") if len(name or "") <= 64 else None
    hashed = user.password_hash if user and user.password_hash else _DUMMY_HASH
    ok = check_password_hash(hashed, (password or "")[:MAX_PASSWORD])
    if user is None or not user.password_hash or not ok or user.is_disabled:
        return None
    return user


def delete_user(user: User) -> None:
    """Delete an account with its tags and tokens. Commits."""
    db.session.delete(user)
    db.session.commit()


def reset_targets(identifier: str) -> list[User]:
    """Accounts a reset request names (by username or address) that have a verified address:
    a reset link only ever goes to an address its owner proved to read."""
    identifier = identifier.strip()
    if "@" not in identifier:
        user = find_user(identifier) if len(identifier) <= 64 else None
        found = [user] if user is not None else []
    else:
        found = db.session.scalars(
            select(User).where(
                func.lower(User.email) == identifier.lower(), User.email_verified.is_(True)
            )
        ).all()
    return [u for u in found if u.email and u.email_verified and not u.is_disabled]


# ---- feed keys ----


def feed_key(user: User, renew: bool = False) -> str:
    """The user's feed key, created on first use; renew=True revokes the old one. Commits."""
    if renew or not user.feed_key:
        user.feed_key = secrets.token_urlsafe(24)
        db.session.commit()
    return user.feed_key


def revoke_feed_key(user: User) -> None:
    user.feed_key = None
    db.session.commit()


def user_for_key(key: str) -> User | None:
    if not key or len(key) > 64:
        return None
    user = db.session.scalar(select(User).where(User.feed_key == key))
    return None if user is None or user.is_disabled else user


# ---- API tokens ----


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(user: User, name: str = "") -> str:
    """A new random token for the user; only its hash is stored. Commits."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    db.session.add(
        ApiToken(user=user, name=name.strip()[:100], prefix=token[:12], token_hash=_digest(token))
    )
    db.session.commit()
    return token


def user_for_token(token: str) -> User | None:
    """The active user owning a token, recording its use; None if unknown or revoked."""
    if not token or len(token) > 200:
        return None
    found = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token)))
    if found is None or found.user.is_disabled:
        return None
    found.last_used = utcnow()
    db.session.commit()
    return found.user


def revoke_token(user: User, token_id: int) -> bool:
    found = db.session.get(ApiToken, token_id)
    if found is None or found.user_id != user.id:
        return False
    db.session.delete(found)
    db.session.commit()
    return True
