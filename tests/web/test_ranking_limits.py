"""Anonymous rankings (/api/recommend, POST /api/similar) are limited per client address;
logged-in users are not counted."""

from __future__ import annotations

import pytest
from flask_migrate import upgrade

from config import TestingConfig
from sanity import create_app
from sanity.accounts import users as accounts
from sanity.db import db
from sanity.engine import jobs
from tests.factories import topical_papers

pytestmark = pytest.mark.both_databases


@pytest.fixture
def limited(tmp_path, database_url, monkeypatch):
    monkeypatch.setenv("SANITY_INSTANCE_PATH", str(tmp_path))
    app = create_app(
        TestingConfig,
        {
            "DATABASE_URL": database_url,
            "DATA_DIR": str(tmp_path / "data"),
            "RATELIMIT_ENABLED": True,
            "RANKING_LIMIT_PER_ADDRESS": "3 per minute",
        },
    )
    with app.app_context():
        upgrade()
        yield app
        db.session.remove()
        db.engine.dispose()


def test_anonymous_rankings_are_limited_per_address(limited):
    """The 4th anonymous ranking in a minute is a 429 with Retry-After; a token is not counted."""
    topics = topical_papers(4)
    jobs.full_build()
    seeds = ",".join(topics["graphs"][:2])
    client = limited.test_client()
    answers = [client.get(f"/api/recommend?ids={seeds}").status_code for _ in range(2)]
    answers.append(client.post("/api/similar", json={"text": "graph networks"}).status_code)
    assert answers == [200, 200, 200]
    over = client.post("/api/similar", json={"text": "graph networks"})
    assert over.status_code == 429 and over.is_json and "Retry-After" in over.headers
    assert client.get(f"/api/recommend?ids={seeds}").status_code == 429
    token = accounts.create_token(accounts.create_user("tia", "tia password"))
    auth = {"Authorization": f"Bearer {token}"}
    for _ in range(5):
        assert client.get(f"/api/recommend?ids={seeds}", headers=auth).status_code == 200
    spec = client.get("/api/openapi.json").get_json()
    assert "429" in spec["paths"]["/api/recommend"]["get"]["responses"]
    assert "429" in spec["paths"]["/api/similar"]["post"]["responses"]
