"""Accounts in the browser: sign-up, log-in, CSRF, sessions, profile, tokens, deletion."""

from __future__ import annotations

import re

import pytest

from config import TestingConfig
from sanity import create_app
from sanity.accounts import users as accounts
from sanity.db import db
from sanity.models import User
from tests.factories import csrf_from, make_paper, register


def post_login(client, username, password, remember=False, next_url=None):
    """The login form, posted as a browser would (these tests are about the form itself)."""
    token = csrf_from(client.get("/login").get_data(as_text=True))
    data = {"csrf_token": token, "username": username, "password": password}
    if remember:
        data["remember"] = "y"
    url = "/login" + (f"?next={next_url}" if next_url else "")
    return client.post(url, data=data)


@pytest.mark.both_databases
def test_register_logs_in_and_usernames_are_unique_case_insensitively(client):
    """Sign-up creates the account and a session; 'ALICE' is then taken."""
    register(client, "Alice")
    assert "Alice" in client.get("/profile").get_data(as_text=True)
    token = csrf_from(client.get("/profile").get_data(as_text=True))
    client.post("/logout", data={"csrf_token": token})
    token = csrf_from(client.get("/register").get_data(as_text=True))
    response = client.post(
        "/register",
        data={
            "csrf_token": token,
            "username": "ALICE",
            "password": "whatever123",
            "password2": "whatever123",
        },
    )
    assert response.status_code == 400 and "username is taken" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("username", "password", "password2", "message"),
    [
        ("a", "long enough", "long enough", "2-32 characters"),
        ("bad name!", "long enough", "long enough", "2-32 characters"),
        ("x" * 40, "long enough", "long enough", "Field cannot be longer"),
        ("carol", "short", "short", "at least 8"),
        ("carol", "long enough", "different!", "The passwords differ."),
    ],
)
def test_register_explains_every_failure(client, username, password, password2, message):
    """Bad usernames and passwords are refused with a clear message and no account."""
    token = csrf_from(client.get("/register").get_data(as_text=True))
    response = client.post(
        "/register",
        data={
            "csrf_token": token,
            "username": username,
            "password": password,
            "password2": password2,
        },
    )
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert db.session.query(User).count() == 0


def test_login_failures_do_not_reveal_whether_a_user_exists(client):
    """Wrong password and unknown user get the same answer."""
    accounts.create_user("dave", "right password")
    wrong = post_login(client, "dave", "wrong password")
    unknown = post_login(client, "nobody", "wrong password")
    assert wrong.status_code == unknown.status_code == 401
    text = lambda r: re.sub(r'(value|content)="[^"]*"', "", r.get_data(as_text=True))  # noqa: E731
    assert text(wrong).replace("dave", "X") == text(unknown).replace("nobody", "X")
    assert "Wrong username or password." in wrong.get_data(as_text=True)


def test_login_redirects_only_to_local_pages(client):
    """?next= is followed for local paths only, never to another host."""
    accounts.create_user("erin", "right password")
    response = post_login(client, "erin", "right password", next_url="/tags")
    assert response.headers["Location"] == "/tags"
    for evil in ("//evil.example", "https://evil.example/", "/\\evil.example", "javascript:x"):
        response = post_login(client, "erin", "right password", next_url=evil)
        assert response.headers["Location"] == "/", evil


def test_disabled_accounts_cannot_log_in(client):
    """A disabled account is refused like a wrong password."""
    user = accounts.create_user("frank", "right password")
    user.is_disabled = True
    db.session.commit()
    assert post_login(client, "frank", "right password").status_code == 401


def test_logout_is_post_with_csrf_only(client, login):
    """GET /logout changes nothing; POST without the token is refused; with it, logs out."""
    token = login(client, "gina")
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400
    assert client.get("/profile").status_code == 200
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/profile").status_code == 302


def test_password_change_signs_out_other_sessions(app, login):
    """After a password change the other browser's session no longer works."""
    first, second = app.test_client(), app.test_client()
    login(first, "hank", "first password")
    login(second, "hank", "first password")
    assert second.get("/profile").status_code == 200
    token = csrf_from(first.get("/profile").get_data(as_text=True))
    response = first.post(
        "/profile/password",
        data={
            "csrf_token": token,
            "current": "first password",
            "password": "second password",
            "password2": "second password",
        },
    )
    assert response.status_code == 302
    assert first.get("/profile").status_code == 200
    assert second.get("/profile").status_code == 302
    assert accounts.authenticate("hank", "second password") is not None


def test_wrong_current_password_is_refused(client, login):
    """Changing the password needs the current one."""
    token = login(client, "ivy", "first password")
    response = client.post(
        "/profile/password",
        data={
            "csrf_token": token,
            "current": "nope nope",
            "password": "second password",
            "password2": "second password",
        },
    )
    assert response.status_code == 400 and "not your current password" in response.get_data(
        as_text=True
    )


def test_profile_settings_and_tokens(client, login):
    """Email/digest are saved; a token is shown once, works as Bearer, and can be revoked."""
    login(client, "jack")
    token = csrf_from(client.get("/profile").get_data(as_text=True))
    response = client.post(
        "/profile",
        data={"csrf_token": token, "email": "j@example.org", "digest": "y",
              "current": "correct horse"},
    )  # fmt: skip
    assert response.status_code == 302
    user = accounts.find_user("jack")
    assert user.email == "j@example.org" and user.digest_enabled and not user.email_verified
    page = client.post("/profile/tokens", data={"csrf_token": token, "name": "laptop",
                                                "current": "correct horse"})  # fmt: skip
    secret = re.search(r'id="new-token">([^<]+)<', page.get_data(as_text=True)).group(1)
    anon = client.application.test_client()
    assert anon.get("/api/tags", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    profile = client.get("/profile").get_data(as_text=True)
    assert secret not in profile and secret[:12] in profile and "laptop" in profile
    token_id = user.tokens[0].id
    client.post(f"/profile/tokens/{token_id}/revoke", data={"csrf_token": token})
    assert anon.get("/api/tags", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


@pytest.mark.both_databases
def test_delete_account_removes_tags(client, login):
    """Deleting your account (with your password) removes it and its tags."""
    token = login(client, "kate", "kate password")
    paper = make_paper()
    client.put(f"/api/tags/fav/papers/{paper.id}", headers={"X-CSRFToken": token})
    response = client.post("/account/delete", data={"csrf_token": token, "password": "nope"})
    assert response.status_code == 400 and accounts.find_user("kate") is not None
    response = client.post(
        "/account/delete", data={"csrf_token": token, "password": "kate password"}
    )
    assert response.status_code == 302 and accounts.find_user("kate") is None
    assert db.session.execute(db.text("SELECT count(*) FROM tags")).scalar() == 0


def test_registration_can_be_closed(tmp_path, database_url, monkeypatch):
    """REGISTRATION_OPEN=false refuses sign-ups with a clear page."""
    monkeypatch.setenv("SANITY_INSTANCE_PATH", str(tmp_path))
    app = create_app(TestingConfig, {"DATABASE_URL": database_url, "REGISTRATION_OPEN": False})
    response = app.test_client().get("/register")
    assert response.status_code == 403 and "Sign-up is closed" in response.get_data(as_text=True)


def test_security_headers_and_cookie_flags(client):
    """CSP without inline code, nosniff, referrer policy, no framing; HttpOnly+Lax session."""
    response = client.get("/register")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"]
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


@pytest.mark.both_databases
def test_failed_logins_are_rate_limited(tmp_path, database_url, monkeypatch):
    """Repeated failed logins for one user get 429 with Retry-After; the right one still waits."""
    from flask_migrate import upgrade

    monkeypatch.setenv("SANITY_INSTANCE_PATH", str(tmp_path))
    app = create_app(
        TestingConfig,
        {
            "DATABASE_URL": database_url,
            "RATELIMIT_ENABLED": True,
            "LOGIN_LIMIT_PER_USER": "3 per minute",
        },
    )
    with app.app_context():
        upgrade()
        accounts.create_user("lena", "right password")
        client = app.test_client()
        codes = [post_login(client, "lena", "wrong password").status_code for _ in range(4)]
        assert codes == [401, 401, 401, 429]
        limited = post_login(client, "lena", "right password")
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
        db.session.remove()
        db.engine.dispose()
