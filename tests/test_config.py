"""Configuration keys and their SANITY_<KEY> environment overrides."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from config import Config, TestingConfig, parse_value
from sanity import create_app

ROOT = Path(__file__).resolve().parent.parent


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
    monkeypatch.setenv("SANITY_SECRET_KEY", "short")
    with pytest.raises(RuntimeError, match="SECRET_KEY is too short"):
        create_app()
    monkeypatch.delenv("SANITY_SECRET_KEY")
    (tmp_path / "secret_key").write_text("k" * 64 + "\n")
    app = create_app()
    assert app.config["SECRET_KEY"] == "k" * 64
    assert app.config["DATA_DIR"] == str(tmp_path / "data")


def test_postgres_urls_use_psycopg(tmp_path, monkeypatch):
    """postgres:// and postgresql:// URLs are served by the psycopg 3 driver."""
    monkeypatch.setenv("SANITY_INSTANCE_PATH", str(tmp_path))
    app = create_app(overrides={"DATABASE_URL": "postgres://u:p@db/x", "SECRET_KEY": "s" * 32})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u:p@db/x"


def test_the_suite_sees_no_sanity_settings_from_its_caller():
    """conftest drops exported SANITY_* variables: apps and subprocesses get TestingConfig's."""
    leaked = [k for k in os.environ if k.startswith("SANITY_") and not k.startswith("SANITY_TEST_")]
    assert leaked == []
    assert TestingConfig.as_dict() == {k: getattr(TestingConfig, k) for k in TestingConfig.keys()}


@pytest.mark.slow
def test_exported_settings_cannot_change_what_the_tests_prove():
    """`SANITY_ARXIV_QUERY=... make test` and friends still pass (pytest in a subprocess)."""
    exported = {
        "SANITY_ARXIV_QUERY": "cat:hep-th",
        "SANITY_CRAWL_MAX_RESULTS": "1",
        "SANITY_DATABASE_URL": "garbage://",
        "SANITY_DATA_DIR": "/nonexistent",
        "SANITY_SECRET_KEY": "from-the-caller",
    }
    probes = [
        "tests/test_config.py::test_the_suite_sees_no_sanity_settings_from_its_caller",
        "tests/ingest/test_crawler.py::test_requests_use_the_configured_query_newest_first[sqlite]",
        "tests/ingest/test_crawler.py::test_first_crawl_stores_every_paper[sqlite]",
    ]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *probes],
        cwd=ROOT, env=os.environ | exported, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    assert f"{len(probes)} passed" in result.stdout
