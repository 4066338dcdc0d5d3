"""Every signed link the service mails: address verification, password reset, unsubscribe.

Tokens are signed with SECRET_KEY, timestamped by the app's clock and bound to a purpose (the
salt); each link also carries what must still hold when it is opened (the address, the session
token), so that a link stops working when the account changes.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from sanity.db import db
from sanity.models import User
from sanity.timeutil import get_clock

VERIFY_SALT = "verify-email"
RESET_SALT = "reset-password"
UNSUBSCRIBE_SALT = "unsubscribe"
VERIFY_MAX_AGE = 3 * 24 * 3600
RESET_MAX_AGE = 3600


def external_url(endpoint: str, **values) -> str:
    """An absolute URL under BASE_URL, also outside a request (CLI, scheduler)."""
    base = urlsplit(current_app.config["BASE_URL"].rstrip("/"))
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme or "http"
    )
    return adapter.build(endpoint, values, force_external=True)


class _ClockSigner(TimestampSigner):
    """Timestamps from the app's clock, so that tests can let links expire."""

    def get_timestamp(self) -> int:
        return int(get_clock().now().timestamp())


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt, signer=_ClockSigner)


def sign(salt: str, payload: object) -> str:
    """A URL-safe signed, timestamped token for `payload` (salt: what the token is for)."""
    return _serializer(salt).dumps(payload)


def unsign(salt: str, token: str, max_age: float | None = None) -> object | None:
    """The payload of a token, or None if it is forged, for another purpose or expired."""
    try:
        return _serializer(salt).loads(token, max_age=None if max_age is None else int(max_age))
    except (BadSignature, SignatureExpired):  # SignatureExpired is a BadSignature; explicit
        return None


# ---- verification and reset ----


def verify_link(user: User) -> str:
    """A link that verifies the user's current address (for VERIFY_MAX_AGE)."""
    token = sign(VERIFY_SALT, {"u": user.id, "e": user.email})
    return external_url("account_mail.verify", token=token)


def reset_link(user: User) -> str:
    """A link that sets a new password once (the session token it carries then changes)."""
    token = sign(RESET_SALT, {"u": user.id, "t": user.session_token, "e": user.email})
    return external_url("account_mail.reset", token=token)


def payload_user(salt: str, token: str, max_age: float) -> tuple[User | None, dict]:
    payload = unsign(salt, token, max_age)
    if not isinstance(payload, dict) or not isinstance(payload.get("u"), int):
        return None, {}
    user = db.session.get(User, payload["u"])
    if user is None or user.is_disabled:
        return None, {}
    return user, payload


def reset_user(token: str) -> tuple[User | None, dict]:
    """The user a reset link is for (with its payload), if genuine, fresh, not used yet and
    the account still has the verified address the link was mailed to."""
    user, payload = payload_user(RESET_SALT, token, RESET_MAX_AGE)
    if user is None or payload.get("t") != user.session_token:
        return None, {}
    if not user.email or not user.email_verified or payload.get("e") != user.email:
        return None, {}
    return user, payload


# ---- unsubscribe ----


def unsubscribe_token(user: User) -> str:
    """A signed token that turns this user's digests off, without logging in; no expiry."""
    return sign(UNSUBSCRIBE_SALT, {"u": user.id, "k": user.username_key})


def user_for_unsubscribe(token: str) -> User | None:
    payload = unsign(UNSUBSCRIBE_SALT, token)
    if not isinstance(payload, dict) or not isinstance(payload.get("u"), int):
        return None
    user = db.session.get(User, payload["u"])
    if user is None or user.username_key != payload.get("k"):  # an id reused after deletion
        return None
    return user
