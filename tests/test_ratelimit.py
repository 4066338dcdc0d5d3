"""Rate-limit counters in the database: shared by every app instance, exact under concurrency."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask_migrate import upgrade

from config import TestingConfig
from sanity import accounts, create_app
from sanity.db import db
from sanity.ratelimit import DatabaseStorage
from tests.test_auth import login


@pytest.fixture
def limited_apps(tmp_path, database_url, monkeypatch):
    """Two app instances on one database, like two gunicorn workers (separate pools, limiters)."""
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


def test_failed_logins_count_across_app_instances(limited_apps):
    first, second = (app.test_client() for app in limited_apps)
    codes = []
    for i in range(5):
        client, app = (first, limited_apps[0]) if i % 2 == 0 else (second, limited_apps[1])
        with app.app_context():
            codes.append(login(client, "lena", "wrong password").status_code)
    assert codes == [401, 401, 401, 401, 429]
    with limited_apps[1].app_context():
        assert login(second, "lena", "right password").status_code == 429


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
