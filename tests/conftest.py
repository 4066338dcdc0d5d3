"""Shared fixtures: an app (SQLite; both databases where marked), a fake arXiv on request, a fake
clock, a CLI runner and a login helper."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from flask.testing import FlaskCliRunner
from flask_migrate import upgrade

from config import TestingConfig
from sanity import create_app
from sanity.accounts import users as accounts
from sanity.cli import main
from sanity.db import db, normalize_url
from sanity.timeutil import FakeClock
from tests.arxiv_server import FakeArxiv
from tests.factories import csrf_from

DEFAULT_PG = "postgresql+psycopg://sanity:sanity@127.0.0.1:5432/sanity_test"


def clear_sanity_environment() -> None:
    """Drop the caller's SANITY_* settings (the harness's SANITY_TEST_* aside).

    Every app the tests build, and every `sanity` process they start, then sees only what the
    test sets: `SANITY_ARXIV_QUERY=... make test` cannot change what a test proves.
    """
    for key in [k for k in os.environ if k.startswith("SANITY_")]:
        if not key.startswith("SANITY_TEST_"):
            del os.environ[key]


clear_sanity_environment()  # at import: before any app or subprocess exists


def postgres_url() -> str:
    return os.environ.get("SANITY_TEST_DATABASE_URL") or DEFAULT_PG


def reset_postgres(url: str) -> str:
    """A fresh, empty schema private to this test process (or skip/fail with no server).

    Concurrent test runs share one database; each gets its own schema via search_path.
    """
    schema = f"test_{os.getpid()}"
    base = sa.engine.make_url(normalize_url(url))
    engine = sa.create_engine(base)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    except sa.exc.OperationalError as exc:
        reason = f"no PostgreSQL server at {url}: {str(exc.orig).strip().splitlines()[0]}"
        if os.environ.get("CI"):
            pytest.fail(reason + " (CI must run the PostgreSQL tests)")
        pytest.skip(reason + " (set SANITY_TEST_DATABASE_URL)")
    finally:
        engine.dispose()
    scoped = base.update_query_dict({"options": f"-csearch_path={schema}"})
    return scoped.render_as_string(hide_password=False)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests that use a database run on SQLite; marked `both_databases`, on PostgreSQL too.

    A test (or module) that parametrizes `database_url` itself chooses its own databases.
    """
    if "database_url" not in metafunc.fixturenames:
        return
    chosen = metafunc.definition.iter_markers("parametrize")
    if any("database_url" in marker.args[0] for marker in chosen):
        return
    both = metafunc.definition.get_closest_marker("both_databases")
    kinds = ["sqlite", "postgresql"] if both else ["sqlite"]
    metafunc.parametrize("database_url", kinds, indirect=True)


@pytest.fixture
def database_url(request, tmp_path) -> str:
    """A fresh, empty database of the kind the test is parametrized with."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return reset_postgres(postgres_url())


@pytest.fixture
def arxiv():
    """The fake arXiv (export API and OAI-PMH); an `app` in the same test is pointed at it."""
    server = FakeArxiv().start()
    yield server
    server.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def app(request, database_url, tmp_path, clock, monkeypatch):
    """An app on a migrated database with a fake clock.

    It reaches the fake arXiv only in tests that use the `arxiv` fixture; elsewhere arXiv is
    TestingConfig's closed port, so a test that crawls by accident fails fast.
    """
    instance = tmp_path / "instance"
    monkeypatch.setenv("SANITY_INSTANCE_PATH", str(instance))
    overrides = {"DATABASE_URL": database_url, "DATA_DIR": str(tmp_path / "data")}
    if "arxiv" in request.fixturenames:
        server = request.getfixturevalue("arxiv")
        overrides["ARXIV_API_URL"] = server.url + "/api/query"
        overrides["ARXIV_OAI_URL"] = server.url + "/oai"
        overrides["ARXIV_PDF_URL"] = server.url + "/pdf/"
    app = create_app(TestingConfig, overrides)
    app.extensions["sanity.clock"] = clock
    with app.app_context():
        upgrade()
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


class CliRunner(FlaskCliRunner):
    """Invokes the `sanity` group (the console script's) against the test app."""

    def invoke(self, cli=None, args=None, **kwargs):
        return super().invoke(cli or main, args, **kwargs)


@pytest.fixture
def runner(app):
    return CliRunner(app)


@pytest.fixture
def login(app):
    """log_in(client, name, password): sign the client in through the login form.

    The account is created first if it does not exist. Returns the CSRF token for the client's
    later form posts and X-CSRFToken headers.
    """

    def log_in(client, name: str = "alice", password: str = "correct horse") -> str:
        if accounts.find_user(name) is None:
            accounts.create_user(name, password)
        token = csrf_from(client.get("/login").get_data(as_text=True))
        data = {"csrf_token": token, "username": name, "password": password}
        response = client.post("/login", data=data)
        assert response.status_code == 302, response.get_data(as_text=True)
        # Logging in replaces the CSRF secret: the login form's token is not valid after it.
        return csrf_from(client.get("/profile").get_data(as_text=True))

    return log_in
