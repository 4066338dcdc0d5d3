"""Configuration keys and their SANITY_<KEY> environment overrides."""

from __future__ import annotations

import pytest

from config import Config, parse_value
from sanity import create_app


def test_environment_overrides_are_parsed_by_type():
    """Numbers accept decimals, booleans accept true/false/1/0/yes/no in any case."""
    env = {
        "SANITY_CRAWL_INTERVAL_MINUTES": "0.5",
        "SANITY_CRAWL_MAX_RESULTS": "300",
        "SANITY_REGISTRATION_OPEN": "No",
        "SANITY_RATELIMIT_ENABLED": "YES",
        "SANITY_ARXIV_QUERY": "cat:hep-th",
    }
    values = Config.as_dict(env)
    assert values["CRAWL_INTERVAL_MINUTES"] == 0.5
    assert values["CRAWL_MAX_RESULTS"] == 300 and isinstance(values["CRAWL_MAX_RESULTS"], int)
    assert values["REGISTRATION_OPEN"] is False
    assert values["RATELIMIT_ENABLED"] is True
    assert values["ARXIV_QUERY"] == "cat:hep-th"


def test_bad_environment_values_name_the_key():
    """A value that does not fit the key's type is an error naming the variable."""
    with pytest.raises(ValueError, match="SANITY_MAIL_USE_TLS"):
        parse_value("MAIL_USE_TLS", "maybe", False)
    with pytest.raises(ValueError, match="SANITY_CRAWL_MAX_RESULTS"):
        parse_value("CRAWL_MAX_RESULTS", "lots", 2000)


def test_defaults_match_the_design():
    """The documented defaults: arXiv's API, 3 s delay, 2,000 results a run, open sign-up."""
    assert Config.ARXIV_API_URL == "https://export.arxiv.org/api/query"
    assert Config.ARXIV_DELAY_SECONDS == 3
    assert Config.CRAWL_MAX_RESULTS == 2000
    assert Config.ARXIV_QUERY.startswith("cat:cs.CV OR cat:cs.LG")
    assert Config.REGISTRATION_OPEN and Config.RATELIMIT_ENABLED


def test_wsgi_app_refuses_to_start_without_a_secret_key(tmp_path, monkeypatch):
    """create_app() under a WSGI server (no CLI) needs a real SECRET_KEY."""
    monkeypatch.setenv("SANITY_INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("SANITY_SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="SECRET_KEY is not set"):
        create_app()
    (tmp_path / "secret_key").write_text("k" * 64 + "\n")
    app = create_app()
    assert app.config["SECRET_KEY"] == "k" * 64
    assert app.config["DATA_DIR"] == str(tmp_path / "data")


def test_postgres_urls_use_psycopg(tmp_path, monkeypatch):
    """postgres:// and postgresql:// URLs are served by the psycopg 3 driver."""
    monkeypatch.setenv("SANITY_INSTANCE_PATH", str(tmp_path))
    app = create_app(overrides={"DATABASE_URL": "postgres://u:p@db/x", "SECRET_KEY": "s" * 32})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u:p@db/x"
