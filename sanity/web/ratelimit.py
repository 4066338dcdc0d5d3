"""Rate-limit counters kept in the app's own database (`RATELIMIT_STORAGE_URI=database://`).

Flask-Limiter's default store lives in one process's memory, so four gunicorn workers would
each allow the full number of failed logins. This `limits` storage keeps fixed-window counters
in the `rate_limits` table instead: every worker sees the same counts with no extra service.
Each call uses its own short transaction (never the request's session), and an atomic upsert,
so concurrent workers cannot lose a hit.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time

import sqlalchemy as sa
from limits.storage import Storage
from sqlalchemy.dialects import postgresql, sqlite

from sanity.db import db, is_sqlite
from sanity.models import RateLimitCounter

log = logging.getLogger(__name__)
COUNTERS = RateLimitCounter.__table__
PURGE_CHANCE = 0.02  # share of hits that also delete expired counters
MAX_KEY = 200  # longer keys (they hold user input, e.g. a username) are stored as a hash


def _key(key: str) -> str:
    if len(key) <= MAX_KEY:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class DatabaseStorage(Storage):
    """Fixed-window counters in the `rate_limits` table (SQLite or PostgreSQL)."""

    STORAGE_SCHEME = ["database"]

    @property
    def base_exceptions(self) -> type[Exception]:
        return sa.exc.SQLAlchemyError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        dialect = sqlite if is_sqlite() else postgresql
        expired = COUNTERS.c.expires_at <= now
        statement = (
            dialect.insert(COUNTERS)
            .values(key=_key(key), hits=amount, expires_at=now + expiry)
            .on_conflict_do_update(
                index_elements=[COUNTERS.c.key],
                set_={
                    "hits": sa.case((expired, amount), else_=COUNTERS.c.hits + amount),
                    "expires_at": sa.case((expired, now + expiry), else_=COUNTERS.c.expires_at),
                },
            )
            .returning(COUNTERS.c.hits)
        )
        with db.engine.begin() as conn:
            hits = conn.execute(statement).scalar_one()
        if random.random() < PURGE_CHANCE:
            try:  # housekeeping in its own transaction: a conflict must not fail the request
                with db.engine.begin() as conn:
                    conn.execute(sa.delete(COUNTERS).where(expired))
            except sa.exc.SQLAlchemyError:
                log.warning("rate limits: purging expired counters failed", exc_info=True)
        return hits

    def _live(self, key: str) -> tuple[int, float] | None:
        with db.engine.connect() as conn:
            row = conn.execute(
                sa.select(COUNTERS.c.hits, COUNTERS.c.expires_at).where(
                    COUNTERS.c.key == _key(key), COUNTERS.c.expires_at > time.time()
                )
            ).first()
        return (row.hits, row.expires_at) if row else None

    def get(self, key: str) -> int:
        live = self._live(key)
        return live[0] if live else 0

    def get_expiry(self, key: str) -> float:
        live = self._live(key)
        return live[1] if live else time.time()

    def check(self) -> bool:
        try:
            with db.engine.connect() as conn:
                conn.execute(sa.select(1))
        except sa.exc.SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        with db.engine.begin() as conn:
            return conn.execute(sa.delete(COUNTERS)).rowcount

    def clear(self, key: str) -> None:
        with db.engine.begin() as conn:
            conn.execute(sa.delete(COUNTERS).where(COUNTERS.c.key == _key(key)))
