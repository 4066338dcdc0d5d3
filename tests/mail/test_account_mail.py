"""Account mail over a real SMTP server: address-change notices, resets only to verified
addresses and bound to them, what a reset ends, per-recipient limits, one recipient per
message, reset timing, and mail leaving a real `sanity serve --no-scheduler` process."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from flask_migrate import upgrade

from config import TestingConfig
from sanity import create_app
from sanity.accounts import users as accounts
from sanity.db import db
from sanity.mail import send as mail
from tests import processes
from tests.factories import csrf_from, register
from tests.mail.test_send import BASE, ask_reset, join_mail_threads, only_link, path_of, smtp
from tests.smtp_server import SmtpServer

pytestmark = pytest.mark.both_databases  # sessions, limits and quotas live in the database

__all__ = ["smtp"]  # the fixture, shared with test_send
PASSWORD = "correct horse"


def set_email(client, token: str, email: str, password: str = PASSWORD):
    data = {"csrf_token": token, "email": email, "current": password}
    response = client.post("/profile", data=data)
    join_mail_threads()
    return response


def verified_user(name: str, email: str):
    return accounts.create_user(name, PASSWORD, email, email_verified=True)


@pytest.fixture
def limited(tmp_path, database_url, monkeypatch):
    """Make an app with rate limits on, sending to a real SMTP server (yielded with it)."""
    monkeypatch.setenv("SANITY_INSTANCE_PATH", str(tmp_path))
    server = SmtpServer().start()
    made = []

    def make(**limits):
        app = create_app(TestingConfig, {"DATABASE_URL": database_url, "RATELIMIT_ENABLED": True,
                                         "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": server.port,
                                         "BASE_URL": BASE, **limits})  # fmt: skip
        ctx = app.app_context()
        ctx.push()
        upgrade()
        made.append(ctx)
        return app, server

    yield make
    for ctx in made:
        db.session.remove()
        db.engine.dispose()
        ctx.pop()
    server.stop()


# ---- address changes ----


def test_changing_the_address_notifies_the_old_one(app, client, smtp):
    """The old address is told of the change (and the new one is not yet verified)."""
    token = register(client, "ann")
    assert set_email(client, token, "ann@example.org").status_code == 302
    assert smtp.received == []  # no old address: nobody to tell
    assert set_email(client, token, "ann@example.net").status_code == 302
    (notice,) = smtp.wait_for(1)
    assert notice.recipients == ["ann@example.org"]
    assert "ann@example.net" in notice.text and "changed" in notice.message["Subject"]
    assert not accounts.find_user("ann").email_verified


def test_the_address_cannot_change_without_the_password(app, client, smtp):
    """A wrong current password changes nothing and mails nobody."""
    token = register(client, "ben")
    set_email(client, token, "ben@example.org")
    response = set_email(client, token, "thief@example.net", password="guess guess")
    assert response.status_code == 400 and "not your current password" in response.text
    assert accounts.find_user("ben").email == "ben@example.org" and smtp.received == []


# ---- reset ----


def test_a_reset_goes_only_to_a_verified_address(app, client, smtp):
    """By username or address, an unverified address gets no reset mail; a verified one does."""
    accounts.create_user("cat", PASSWORD, "cat@example.org")  # not verified
    verified_user("dee", "dee@example.org")
    for who in ("cat", "cat@example.org", "dee", "DEE@example.org"):
        assert ask_reset(client, who).status_code == 200
    assert [r.recipients for r in smtp.wait_for(2)] == [["dee@example.org"]] * 2
    time.sleep(0.2)
    assert len(smtp.received) == 2


def test_the_token_to_changed_address_takeover_is_closed(app, client, smtp):
    """The issue's chain: token -> change email -> reset by username. Every step fails."""
    user = verified_user("eli", "eli@example.org")
    token = accounts.create_token(user)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/profile", headers=headers).status_code == 302
    client.post("/profile", data={"email": "evil@example.net"}, headers=headers)
    assert accounts.find_user("eli").email == "eli@example.org"
    ask_reset(client, "eli")
    (got,) = smtp.wait_for(1)
    assert got.recipients == ["eli@example.org"]


def test_a_reset_link_is_bound_to_the_address_it_was_sent_to(app, client, smtp):
    """After the address changes (even to another verified one) the mailed link fails."""
    user = verified_user("fan", "fan@example.org")
    ask_reset(client, "fan")
    link = path_of(only_link(smtp.wait_for(1)[0], "/reset/"))
    assert client.get(link).status_code == 200
    user.email = "fan@example.net"  # then verified by its own link
    db.session.commit()
    page = client.get(link)
    assert page.status_code == 400 and "does not work" in page.text


def test_an_account_without_password_or_verified_address_is_reset_by_the_admin(
    app, client, smtp, runner
):
    """No mail for it; `sanity user set-password` (as the README says) lets the user in."""
    accounts.create_user("gia", None, "gia@example.org")  # e.g. imported, never logged in
    ask_reset(client, "gia")
    time.sleep(0.3)
    assert smtp.received == []
    result = runner.invoke(
        args=["user", "set-password", "gia", "--password-stdin"], input="brand new password\n"
    )
    assert result.exit_code == 0, result.output
    assert accounts.authenticate("gia", "brand new password")


def test_a_reset_ends_sessions_tokens_and_the_feed_key(app, client, smtp):
    """Setting a password with a reset link signs every browser out and revokes the API."""
    user = verified_user("hal", "hal@example.org")
    browser = app.test_client()
    login_token = csrf_from(browser.get("/login").text)
    browser.post("/login", data={"csrf_token": login_token, "username": "hal",
                                 "password": PASSWORD})  # fmt: skip
    assert browser.get("/profile").status_code == 200
    api_token, old_key = accounts.create_token(user), accounts.feed_key(user)
    ask_reset(client, "hal")
    link = path_of(only_link(smtp.wait_for(1)[0], "/reset/"))
    form = csrf_from(client.get(link).text)
    done = client.post(link, data={"csrf_token": form, "password": "new password",
                                   "password2": "new password"})  # fmt: skip
    assert done.status_code == 302
    assert browser.get("/profile").status_code == 302
    assert (
        client.get("/api/tags", headers={"Authorization": f"Bearer {api_token}"}).status_code == 401
    )
    assert client.get(f"/feeds/{old_key}/tags/all.atom").status_code == 404
    db.session.expire_all()
    assert accounts.find_user("hal").feed_key not in (None, old_key)


# ---- limits per recipient and per client ----


def test_fresh_accounts_cannot_flood_one_mailbox_with_verification_mail(limited):
    """Many new accounts naming one victim: the victim gets MAIL_LIMIT_PER_RECIPIENT mails."""
    app, server = limited(MAIL_LIMIT_PER_RECIPIENT="2 per hour")
    codes = []
    for i in range(4):
        client = app.test_client()
        token = register(client, f"spam{i}")
        assert set_email(client, token, "Victim@example.org").status_code == 302
        codes.append(client.post("/profile/verify", data={"csrf_token": token}).status_code)
    assert codes == [302, 302, 429, 429]
    time.sleep(0.3)
    assert len(server.wait_for(2)) == 2 and len(server.received) == 2


def test_verification_mail_is_limited_per_client_address(limited):
    """VERIFY_LIMIT_PER_ADDRESS counts verification requests from one client address."""
    app, server = limited(VERIFY_LIMIT_PER_ADDRESS="2 per hour")
    codes = []
    for i in range(3):
        client = app.test_client()
        token = register(client, f"user{i}")
        set_email(client, token, f"user{i}@example.org")
        codes.append(client.post("/profile/verify", data={"csrf_token": token}).status_code)
    assert codes == [302, 302, 429]


def test_reset_mail_to_one_recipient_is_limited_by_username_and_address_together(limited):
    """Asking by name and by address alternately still mails the address only so often."""
    app, server = limited(MAIL_LIMIT_PER_RECIPIENT="2 per hour")
    verified_user("ivy", "ivy@example.org")
    client = app.test_client()
    codes = [ask_reset(client, who).status_code for who in ("ivy", "ivy@example.org", "IVY")]
    assert codes == [200, 200, 200]  # the answer never tells
    time.sleep(0.3)
    assert len(server.wait_for(2)) == 2 and len(server.received) == 2


# ---- one recipient ----


def test_a_stored_list_of_addresses_never_reaches_the_server(app, client, smtp):
    """Even an address stored before the checks, as a list, is never fanned out."""
    user = verified_user("jon", "jon@example.org")
    user.email = "root,postmaster,me@evil.example"  # written past the form's check
    db.session.commit()
    ask_reset(client, "jon")
    time.sleep(0.3)
    assert smtp.received == []
    with pytest.raises(mail.MailError):
        mail.make_message("root,postmaster,me@evil.example", "s", "t")
    with pytest.raises(mail.MailError):
        mail.make_message("x<root>y@evil.example", "s", "t")


# ---- timing ----


def timed_resets(client, who: str, token: str) -> float:
    """Seconds the fastest of a few reset requests for `who` took (the machine's noise out)."""
    times = []
    for _ in range(5):
        start = time.perf_counter()
        response = client.post("/reset", data={"csrf_token": token, "username": who})
        times.append(time.perf_counter() - start)
        assert response.status_code == 200
        join_mail_threads()
    return min(times)


def test_the_reset_form_takes_as_long_for_unknown_accounts(app, client, smtp, monkeypatch):
    """The work that depends on the account (lookup, link, message) is off the request path:
    made 100 ms slower, it still does not show in the response time of a known account."""
    verified_user("kay", "kay@example.org")
    token = csrf_from(client.get("/reset").text)
    render = mail.render_message

    def slow_render(*args, **kwargs):
        time.sleep(0.1)
        return render(*args, **kwargs)

    monkeypatch.setattr(mail, "render_message", slow_render)
    known = min(timed_resets(client, "kay", token) for _ in range(2))
    unknown = min(timed_resets(client, "nobody", token) for _ in range(2))
    assert known < 0.1 and abs(known - unknown) < 0.05, (known, unknown)
    assert len(smtp.received) == 10  # and the mail still went out every time


# ---- a real server process ----


GUNICORN = str(Path(sys.executable).parent / "gunicorn")


def launch(kind: str, port: int, env: dict[str, str]) -> subprocess.Popen:
    if kind == "serve":
        return processes.start(["serve", "--port", str(port), "--no-scheduler"], env)
    return subprocess.Popen(
        [GUNICORN, "-w", "2", "-b", f"127.0.0.1:{port}", "--no-control-socket",
         "sanity:create_app()"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@pytest.mark.parametrize("kind", ["serve", "gunicorn"])
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_reset_mail_leaves_the_web_process_within_seconds(app, smtp, kind):
    """`sanity serve --no-scheduler` and gunicorn (no scheduler, no worker): the reset mail
    arrives within seconds, sent by the web process itself."""
    verified_user("lou", "lou@example.org")
    port = processes.free_port()
    base = f"http://127.0.0.1:{port}"  # http: the session cookie is not marked Secure
    env = processes.sanity_env(app, SECRET_KEY="m" * 32, MAIL_SERVER="127.0.0.1",
                               MAIL_PORT=smtp.port, MAIL_FROM="sanity@example.org",
                               BASE_URL=base, RATELIMIT_ENABLED="false")  # fmt: skip
    server = launch(kind, port, env)
    try:

        def up() -> bool:
            assert server.poll() is None, "the server exited"
            try:
                return requests.get(base + "/reset", timeout=5).status_code == 200
            except requests.RequestException:
                return False

        processes.wait_for(up, timeout=60)
        web = requests.Session()
        token = csrf_from(web.get(base + "/reset", timeout=5).text)
        answer = web.post(base + "/reset", data={"csrf_token": token, "username": "lou"}, timeout=5)
        assert answer.status_code == 200
        (got,) = smtp.wait_for(1, timeout=10)
        assert got.recipients == ["lou@example.org"]
        assert [u for u in got.links() if u.startswith(base + "/reset/")]
    finally:
        processes.stop(server, signal.SIGTERM)
