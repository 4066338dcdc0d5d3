"""Sessions and re-authentication from outside: Bearer tokens stay in /api, sensitive profile
changes need the current password (rate-limited), a password change or logout ends sessions,
CSRF tokens do not survive a login, registration is limited, addresses are single."""

from __future__ import annotations

import logging
import re

import pytest
from flask_migrate import upgrade

from config import TestingConfig
from sanity import create_app
from sanity.accounts import users as accounts
from sanity.db import db
from sanity.models import ApiToken, User
from tests.factories import csrf_from, register

pytestmark = pytest.mark.both_databases  # sessions, limits and quotas live in the database

PASSWORD = "correct horse"


def login(client, username: str, password: str = PASSWORD, remember: bool = False):
    """Log in through the form; returns the CSRF token of the new session."""
    token = csrf_from(client.get("/login").get_data(as_text=True))
    data = {"csrf_token": token, "username": username, "password": password}
    if remember:
        data["remember"] = "y"
    response = client.post("/login", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    return csrf_from(client.get("/profile").get_data(as_text=True))


def logged_in(client) -> bool:
    return client.get("/profile").status_code == 200


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def limited(tmp_path, database_url, monkeypatch):
    """Make an app with rate limits on (and the given limits) on a migrated database."""
    monkeypatch.setenv("SANITY_INSTANCE_PATH", str(tmp_path))
    made = []

    def make(**limits):
        app = create_app(TestingConfig, {"DATABASE_URL": database_url, "RATELIMIT_ENABLED": True,
                                         **limits})  # fmt: skip
        ctx = app.app_context()
        ctx.push()
        upgrade()
        made.append(ctx)
        return app

    yield make
    for ctx in made:
        db.session.remove()
        db.engine.dispose()
        ctx.pop()


# ---- API tokens are not browser sessions ----


def test_a_bearer_token_opens_the_api_but_no_html_page(client):
    """With only a token: /api works; /profile is a login redirect, and its forms change nothing."""
    user = accounts.create_user("tom", PASSWORD, "tom@example.org", email_verified=True)
    token = accounts.create_token(user)
    assert client.get("/api/tags", headers=bearer(token)).status_code == 200
    page = client.get("/profile", headers=bearer(token))
    assert page.status_code == 302 and "/login" in page.headers["Location"]
    for path, data in [("/profile", {"email": "evil@example.org"}),
                       ("/profile/tokens", {"name": "more"}),
                       ("/feeds/key", {})]:  # fmt: skip
        response = client.post(path, data=data, headers=bearer(token))
        assert response.status_code in (302, 400) and response.status_code != 200
    db.session.expire_all()
    user = db.session.get(User, user.id)
    assert user.email == "tom@example.org" and user.feed_key is None
    assert db.session.query(ApiToken).count() == 1


def test_a_bearer_token_does_not_borrow_a_session_cookie(client):
    """A Bearer header on an HTML page makes the request anonymous even with a session cookie."""
    register(client, "uma")
    other = accounts.create_user("vic", PASSWORD)
    token = accounts.create_token(other)
    assert client.get("/profile").status_code == 200
    assert client.get("/profile", headers=bearer(token)).status_code == 302


# ---- re-authentication ----


def test_sensitive_profile_changes_need_the_current_password(client):
    """Email change, token creation, password change and deletion fail without the password."""
    token = register(client, "wes")
    for path, data in [
        ("/profile", {"email": "wes@example.org"}),
        ("/profile/tokens", {"name": "laptop"}),
        ("/profile/password", {"password": "new password", "password2": "new password"}),
        ("/account/delete", {}),
    ]:
        for wrong in ({}, {"current": "not it", "password": "not it"}):
            response = client.post(path, data={"csrf_token": token, **data, **wrong})
            assert response.status_code == 400, path
    user = accounts.find_user("wes")
    assert user.email is None and not user.tokens
    assert accounts.authenticate("wes", PASSWORD)
    ok = client.post("/profile", data={"csrf_token": token, "email": "wes@example.org",
                                       "current": PASSWORD})  # fmt: skip
    assert ok.status_code == 302 and accounts.find_user("wes").email == "wes@example.org"
    page = client.post("/profile/tokens", data={"csrf_token": token, "current": PASSWORD})
    assert page.status_code == 200 and re.search(r'id="new-token">sanity_', page.text)


def test_the_digest_switch_and_the_feed_key_need_no_password(client):
    """Turning the digest on for the same address and creating the feed key ask nothing."""
    token = register(client, "xia")
    user = accounts.find_user("xia")
    user.email, user.email_verified = "xia@example.org", True
    db.session.commit()
    data = {"csrf_token": token, "email": "xia@example.org", "digest": "y"}
    assert client.post("/profile", data=data).status_code == 302
    assert client.post("/feeds/key", data={"csrf_token": token}).status_code == 302
    db.session.expire_all()
    user = accounts.find_user("xia")
    assert user.digest_enabled and user.feed_key


def test_admin_commands_ask_for_no_password(app, runner):
    """`sanity user token` prints a token without asking for anything."""
    accounts.create_user("yan", PASSWORD)
    result = runner.invoke(args=["user", "token", "yan"], input="")
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert app.test_client().get("/api/tags", headers=bearer(token)).status_code == 200


def test_wrong_current_passwords_are_rate_limited_like_logins(limited):
    """After the allowed wrong passwords: 429 with Retry-After, even for the right one."""
    app = limited(REAUTH_LIMIT_PER_USER="3 per minute")
    client = app.test_client()
    token = register(client, "zoe")
    data = {"csrf_token": token, "name": "t", "current": "wrong password"}
    codes = [client.post("/profile/tokens", data=data).status_code for _ in range(3)]
    assert codes == [400, 400, 400]
    # The count is per account, across every form that asks for the password.
    blocked = client.post("/profile/password", data={"csrf_token": token, "current": PASSWORD,
                          "password": "new password", "password2": "new password"})  # fmt: skip
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) >= 1
    assert accounts.authenticate("zoe", PASSWORD)


# ---- ending sessions ----


def test_a_password_change_ends_other_sessions_tokens_and_the_feed_key(app, client):
    """Other browsers (remember-me too) are signed out; tokens are revoked; the feed key changes."""
    token = register(client, "abe")
    other, remembered = app.test_client(), app.test_client()
    login(other, "abe")
    login(remembered, "abe", remember=True)
    remembered.delete_cookie("session", domain="localhost")
    assert logged_in(remembered)  # by the remember-me cookie alone
    user = accounts.find_user("abe")
    api_token = accounts.create_token(user)
    old_key = accounts.feed_key(user)
    assert client.get(f"/feeds/{old_key}/tags/all.atom").status_code == 200
    response = client.post("/profile/password", data={"csrf_token": token, "current": PASSWORD,
                           "password": "new password", "password2": "new password"})  # fmt: skip
    assert response.status_code == 302
    assert logged_in(client)  # this session goes on
    remembered.delete_cookie("session", domain="localhost")
    assert not logged_in(other) and not logged_in(remembered)
    assert client.get("/api/tags", headers=bearer(api_token)).status_code == 401
    assert client.get(f"/feeds/{old_key}/tags/all.atom").status_code == 404
    db.session.expire_all()
    assert accounts.find_user("abe").feed_key not in (None, old_key)


def test_logout_ends_the_session_and_the_remember_me_cookie_on_the_server(app, client):
    """Cookies copied before logout (session and remember-me) do not work after it."""
    register(client, "bob")
    token = login(client, "bob", remember=True)
    session_cookie = client.get_cookie("session").value
    remember_cookie = client.get_cookie("remember_token").value
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    replay = app.test_client()
    replay.set_cookie("session", session_cookie)
    assert not logged_in(replay)
    replay = app.test_client()
    replay.set_cookie("remember_token", remember_cookie)
    assert not logged_in(replay)


def test_a_csrf_token_from_before_login_is_not_valid_after_it(client):
    """The login form's token does not work for the logged-in session; the new one does."""
    accounts.create_user("cyd", PASSWORD)
    before = csrf_from(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"csrf_token": before, "username": "cyd", "password": PASSWORD})
    assert logged_in(client)
    assert client.post("/logout", data={"csrf_token": before}).status_code == 400
    after = csrf_from(client.get("/profile").get_data(as_text=True))
    assert after != before
    assert client.post("/logout", data={"csrf_token": after}).status_code == 302


# ---- registration limits and addresses ----


def register_attempt(client, username: str, password: str = PASSWORD):
    token = csrf_from(client.get("/register").get_data(as_text=True))
    return client.post("/register", data={"csrf_token": token, "username": username,
                                          "password": password, "password2": password})  # fmt: skip


def test_registration_is_limited_per_client_address_counting_every_attempt(limited):
    """Failed and successful sign-ups count alike; over the limit: 429 with Retry-After."""
    app = limited(REGISTER_LIMIT_PER_ADDRESS="3 per hour")
    client = app.test_client()
    codes = [register_attempt(client, "!bad").status_code,
             register_attempt(client, "dan", "short").status_code,
             register_attempt(app.test_client(), "dan").status_code]  # fmt: skip
    assert codes == [400, 400, 302]
    over = register_attempt(app.test_client(), "eve")
    assert over.status_code == 429 and "Retry-After" in over.headers
    assert accounts.find_user("eve") is None


def test_default_registration_limit_is_ten_per_hour():
    """The documented default: 10 registration attempts per hour per client address."""
    assert TestingConfig.REGISTER_LIMIT_PER_ADDRESS == "10 per hour"


@pytest.mark.parametrize(
    "address",
    ["root,postmaster,me@evil.example", "x<root>y@evil.example", "Me <me@evil.example>",
     "me@evil.example, you@evil.example", "a@b@evil.example", "me@evil"],
)  # fmt: skip
def test_an_email_field_takes_exactly_one_address(client, address):
    """Lists and display forms are a clear form error on sign-up and on the profile."""
    token = csrf_from(client.get("/register").get_data(as_text=True))
    data = {"csrf_token": token, "username": "fay", "email": address,
            "password": PASSWORD, "password2": PASSWORD}  # fmt: skip
    response = client.post("/register", data=data)
    assert response.status_code == 400 and "one email address" in response.text
    assert accounts.find_user("fay") is None
    token = register(client, "gil")
    response = client.post("/profile", data={"csrf_token": token, "email": address,
                                             "current": PASSWORD})  # fmt: skip
    assert response.status_code == 400 and "one email address" in response.text
    assert accounts.find_user("gil").email is None


# ---- proxies ----


def test_a_local_proxy_without_trusted_proxies_is_reported_once(client, caplog):
    """X-Forwarded-For from a loopback peer with TRUSTED_PROXIES=0: one warning in the log."""
    with caplog.at_level(logging.WARNING, logger="sanity.web.security"):
        client.get("/about")
        assert not [r for r in caplog.records if "TRUSTED_PROXIES" in r.getMessage()]
        for _ in range(3):
            client.get("/about", headers={"X-Forwarded-For": "203.0.113.7"})
    warnings = [r for r in caplog.records if "TRUSTED_PROXIES" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING


def test_no_proxy_warning_when_proxies_are_trusted(tmp_path, database_url, monkeypatch, caplog):
    """With TRUSTED_PROXIES=1 the forwarded address is used and nothing is logged."""
    monkeypatch.setenv("SANITY_INSTANCE_PATH", str(tmp_path))
    app = create_app(TestingConfig, {"DATABASE_URL": database_url, "TRUSTED_PROXIES": 1})
    with caplog.at_level(logging.WARNING, logger="sanity.web.security"):
        app.test_client().get("/about", headers={"X-Forwarded-For": "203.0.113.7"})
    assert not [r for r in caplog.records if "TRUSTED_PROXIES" in r.getMessage()]
