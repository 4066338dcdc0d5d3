"""Per-account quotas: generous bounds on what one account can store (config keys MAX_*).

Like every limit, they are on while RATELIMIT_ENABLED is (the one switch for all limits); a
value of 0 switches one off. Each check returns a message for the caller's own error type, so
that every caller keeps answering as it does for its other bad input.
"""

from __future__ import annotations

from flask import current_app, has_app_context

DEFAULTS = {
    "MAX_TAGS_PER_USER": 500,
    "MAX_PAPERS_PER_TAG": 5000,
    "MAX_SAVED_SEARCHES": 200,
    "MAX_LIBRARY_IMPORT_PAPERS": 50000,
}
WHAT = {
    "MAX_TAGS_PER_USER": "tags per account",
    "MAX_PAPERS_PER_TAG": "papers per tag",
    "MAX_SAVED_SEARCHES": "saved searches per account",
    "MAX_LIBRARY_IMPORT_PAPERS": "tag memberships in one library import",
}


def limit(key: str) -> int:
    """The configured quota (0: none, also while RATELIMIT_ENABLED is off); the default
    outside an app."""
    config = current_app.config if has_app_context() else {}
    if not config.get("RATELIMIT_ENABLED", True):
        return 0
    return int(config.get(key, DEFAULTS[key]) or 0)


def exceeded(key: str, count: int, where: str = "") -> str | None:
    """A clear message if `count` is over the quota `key`, else None."""
    most = limit(key)
    if not most or count <= most:
        return None
    place = f" ({where})" if where else ""
    return f"at most {most} {WHAT[key]} are allowed{place}; this would make {count}"
