"""Rate-limit counters in the database: exact under concurrency, windows expire."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask_migrate import upgrade

from config import TestingConfig
from sanity import create_app
from sanity.accounts import users as accounts
from sanity.db import db
from sanity.web.ratelimit import DatabaseStorage

pytestmark = pytest.mark.both_databases


@pytest.fixture
def limited_apps(tmp_path, database_url, monkeypatch):
    """Apps on one migrated database with rate limits on (processes: test_flows_production)."""
    monkeypatch.setenv("SANITY_INSTANCE_PATH", str(tmp_path))
    settings = {
        "DATABASE_URL": database_url,
        "RATELIMIT_ENABLED": True,
        "LOGIN_LIMIT_PER_USER": "4 per minute",
    }
    apps = [create_app(TestingConfig, settings) for _ in range(2)]
    with apps[0].app_context():
        upgrade()
        accounts.create_user("lena", "right password")
    yield apps
    for app in apps:
        with app.app_context():
            db.engine.dispose()


def test_counter_is_exact_under_concurrent_hits_and_expires(limited_apps):
    app = limited_apps[0]
    storage = DatabaseStorage("database://")

    def hit(_):
        with app.app_context():
            return storage.incr("k", expiry=60)

    with ThreadPoolExecutor(8) as pool:
        results = sorted(pool.map(hit, range(40)))
    assert results == list(range(1, 41))  # every hit counted once, none lost
    with app.app_context():
        assert storage.get("k") == 40
        assert storage.get_expiry("k") > time.time() + 50
        assert storage.incr("short", expiry=1) == 1
        time.sleep(1.1)
        assert storage.get("short") == 0  # the window ended
        assert storage.incr("short", expiry=1) == 1  # a new window starts from one
        storage.clear("k")
        assert storage.get("k") == 0
        assert storage.check() is True
        assert storage.reset() >= 1


def test_long_keys_are_stored_hashed(limited_apps):
    """Keys carry user input (a 254-character username): they fit the column on PostgreSQL."""
    with limited_apps[0].app_context():
        storage = DatabaseStorage("database://")
        key = "LIMITER/reset-target:" + "x" * 254 + "/account_mail.reset_request/3/10/minute"
        assert [storage.incr(key, expiry=60) for _ in range(2)] == [1, 2]
        assert storage.get(key) == 2 and storage.get(key + "y") == 0
