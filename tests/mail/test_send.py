"""Mail over a real SMTP server: messages, login, TLS, signed links, verification, reset."""

from __future__ import annotations

import threading

import pytest
from flask_migrate import upgrade

from config import TestingConfig
from sanity import create_app
from sanity.accounts import users as accounts
from sanity.db import db
from sanity.mail import links
from sanity.mail import send as mail
from tests.factories import csrf_from
from tests.smtp_server import SmtpServer, free_port

BASE = "https://sanity.example.org/base"


@pytest.fixture
def smtp(app):
    """A real SMTP server the app sends to; BASE_URL under a path prefix."""
    server = SmtpServer().start()
    app.config.update(
        MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port, MAIL_FROM="sanity@example.org",
        BASE_URL=BASE,
    )  # fmt: skip
    yield server
    server.stop()


def path_of(url: str) -> str:
    assert url.startswith(BASE + "/"), url
    return url[len(BASE) :]


def join_mail_threads() -> None:
    for thread in threading.enumerate():
        if thread.name == "sanity-mail":
            thread.join(10)


def set_email(client, token: str, email: str, digest: bool = True, password="correct horse"):
    data = {"csrf_token": token, "email": email, "current": password}
    if digest:
        data["digest"] = "y"
    response = client.post("/profile", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    join_mail_threads()  # a notice to the old address, if there was one


def only_link(received, prefix: str) -> str:
    links = [u for u in received.links() if u.startswith(BASE + prefix)]
    assert len(links) == 1, received.text
    assert links[0] in received.links("html")
    return links[0]


# ---- the mail module ----


def test_message_has_text_and_html_parts_and_arrives(app, smtp):
    """A message is multipart/alternative (text, HTML) with From, To, Date and Message-ID."""
    msg = mail.make_message("ann@example.org", "Hello", "plain words", "<p>html words</p>",
                            {"X-Extra": "yes"})  # fmt: skip
    mail.send(msg)
    (got,) = smtp.received
    assert got.sender == "sanity@example.org" and got.recipients == ["ann@example.org"]
    m = got.message
    assert m.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in m.iter_parts()] == ["text/plain", "text/html"]
    assert (m["Subject"], m["To"], m["From"]) == ("Hello", "ann@example.org", "sanity@example.org")
    assert m["Message-ID"].endswith("@example.org>") and m["Date"] and m["X-Extra"] == "yes"
    assert got.text.strip() == "plain words" and "<p>html words</p>" in got.html


def test_login_when_a_username_is_set(app):
    """MAIL_USERNAME makes the client log in; a wrong password is a MailError, not a send."""
    server = SmtpServer(auth=("mailer", "s3cret")).start()
    try:
        app.config.update(MAIL_PORT=server.port, MAIL_USERNAME="mailer", MAIL_PASSWORD="s3cret")
        mail.send(mail.make_message("ann@example.org", "Hi", "text"))
        assert server.handler.logins == [("mailer", "s3cret")] and len(server.received) == 1
        app.config["MAIL_PASSWORD"] = "wrong"
        with pytest.raises(mail.MailError, match="535"):
            mail.send(mail.make_message("ann@example.org", "Hi", "text"))
        assert len(server.received) == 1
    finally:
        server.stop()


def test_tls_is_never_silently_skipped(app, smtp):
    """With MAIL_USE_TLS, a server without STARTTLS is an error and nothing is sent."""
    app.config["MAIL_USE_TLS"] = True
    with pytest.raises(mail.MailError, match="STARTTLS"):
        mail.send(mail.make_message("ann@example.org", "Hi", "text"))
    assert smtp.received == []


def test_non_ascii_is_encoded_and_long_urls_stay_whole(app, smtp):
    """Non-ASCII subjects and bodies survive 7-bit transport; List-Unsubscribe is never folded
    into encoded words (clients would not decode them there)."""
    url = "https://sanity.example.org/unsubscribe/" + "x" * 150
    msg = mail.make_message("ann@example.org", "Grüße, Émilie", "Wörter " * 40, "<p>Ü</p>",
                            {"List-Unsubscribe": f"<{url}>"})  # fmt: skip
    mail.send(msg)
    (got,) = smtp.received
    assert f"List-Unsubscribe: <{url}>\r\n".encode() in got.raw
    assert max(len(line) for line in got.raw.split(b"\r\n")) <= 998
    assert all(byte < 128 for byte in got.raw)
    assert got.message["Subject"] == "Grüße, Émilie"
    assert got.text.strip() == ("Wörter " * 40).strip() and "<p>Ü</p>" in got.html


def test_unreachable_server_is_a_mail_error(app):
    """A refused connection becomes one MailError with the reason."""
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port())
    with pytest.raises(mail.MailError, match="refused"):
        mail.send(mail.make_message("ann@example.org", "Hi", "text"))


def test_signed_tokens_check_purpose_integrity_and_age(app, clock):
    """Tokens round-trip; another salt, a changed character or an expired one give None."""
    token = links.sign("verify-email", {"u": 1, "e": "a@example.org"})
    assert links.unsign("verify-email", token, 60) == {"u": 1, "e": "a@example.org"}
    assert links.unsign("reset-password", token, 60) is None
    assert (
        links.unsign("verify-email", token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1])
        is None
    )
    clock.advance(61)
    assert links.unsign("verify-email", token, 60) is None
    assert links.unsign("verify-email", token) is not None  # no max_age: never expires


def test_external_urls_use_base_url_outside_requests(app):
    """Links in mail are built from BASE_URL (with its path), without a request."""
    app.config["BASE_URL"] = "https://example.org/arxiv/"
    assert links.external_url("papers.paper", pid="hep-th/9901001") == (
        "https://example.org/arxiv/paper/hep-th/9901001"
    )


# ---- address verification ----


def test_verification_link_verifies_the_address_without_logging_in(app, client, smtp, login):
    """The profile button mails a link; opening it logged out marks the address verified."""
    token = login(client, "alice")
    set_email(client, token, "alice@example.org")
    profile = client.get("/profile").get_data(as_text=True)
    assert "Send verification email" in profile and "not verified yet" in profile
    response = client.post("/profile/verify", data={"csrf_token": token})
    assert response.status_code == 302
    (got,) = smtp.received
    assert got.recipients == ["alice@example.org"] and "Verify" in got.message["Subject"]
    link = only_link(got, "/verify/")
    anonymous = app.test_client()
    page = anonymous.get(path_of(link))
    assert page.status_code == 200 and "Address verified" in page.get_data(as_text=True)
    assert accounts.find_user("alice").email_verified
    profile = client.get("/profile").get_data(as_text=True)
    assert "is verified" in profile and "Send verification email" not in profile
    assert client.post("/profile/verify", data={"csrf_token": token}).status_code == 302
    assert len(smtp.received) == 1  # nothing to verify: no second mail


def test_verification_link_is_for_one_address_and_expires(app, client, smtp, clock, login):
    """A link for an old address, an expired link or a forged one verifies nothing."""
    token = login(client, "bea")
    set_email(client, token, "bea@example.org")
    client.post("/profile/verify", data={"csrf_token": token})
    old_link = only_link(smtp.received[0], "/verify/")
    set_email(client, token, "bea@example.net")
    assert client.get(path_of(old_link)).status_code == 400
    client.post("/profile/verify", data={"csrf_token": token})
    (notice, verify) = smtp.received[1:]
    assert notice.recipients == ["bea@example.org"] and "bea@example.net" in notice.text
    link = only_link(verify, "/verify/")
    clock.advance(3 * 24 * 3600 + 1)
    response = client.get(path_of(link))
    assert response.status_code == 400 and "does not work" in response.get_data(as_text=True)
    assert client.get("/verify/not-a-token").status_code == 400
    assert not accounts.find_user("bea").email_verified


def test_sending_a_verification_needs_login_and_csrf(app, client, smtp, login):
    """The send button is a CSRF-checked POST for logged-in users only."""
    assert client.post("/profile/verify").status_code in (302, 400)
    token = login(client, "cleo")
    set_email(client, token, "cleo@example.org")
    assert client.post("/profile/verify").status_code == 400
    assert smtp.received == []


def test_a_mail_failure_is_explained_on_the_profile(app, client, smtp, login):
    """If the server refuses the address, the user sees a message instead of an error page."""
    smtp.handler.reject.add("dora@example.org")
    token = login(client, "dora")
    set_email(client, token, "dora@example.org")
    response = client.post("/profile/verify", data={"csrf_token": token}, follow_redirects=True)
    assert response.status_code == 200
    assert "could not be sent" in response.get_data(as_text=True)


# ---- password reset ----


def ask_reset(client, who: str):
    token = csrf_from(client.get("/reset").get_data(as_text=True))
    response = client.post("/reset", data={"csrf_token": token, "username": who})
    join_mail_threads()
    return response


def test_login_page_links_to_the_reset_form(client):
    """'Forgot your password?' on the login page leads to /reset."""
    page = client.get("/login").get_data(as_text=True)
    assert "Forgot your password?" in page and 'href="/reset"' in page
    assert client.get("/reset").status_code == 200


def test_reset_by_mail_sets_a_new_password_once(app, client, smtp):
    """The mailed link sets a new password (checked like any), works once, ends old sessions."""
    accounts.create_user("erin", "old password", "erin@example.org", email_verified=True)
    response = ask_reset(client, "erin")
    assert (
        response.status_code == 200 and "if an account" in response.get_data(as_text=True).lower()
    )
    (got,) = smtp.wait_for(1)
    assert got.recipients == ["erin@example.org"] and "password" in got.message["Subject"].lower()
    link = path_of(only_link(got, "/reset/"))
    form = client.get(link)
    assert form.status_code == 200 and "Set a new password" in form.get_data(as_text=True)
    token = csrf_from(form.get_data(as_text=True))
    short = client.post(link, data={"csrf_token": token, "password": "short", "password2": "short"})
    assert short.status_code == 400 and "at least 8" in short.get_data(as_text=True)
    differ = client.post(link, data={"csrf_token": token, "password": "new password 1",
                                     "password2": "new password 2"})  # fmt: skip
    assert differ.status_code == 400 and "differ" in differ.get_data(as_text=True)
    done = client.post(link, data={"csrf_token": token, "password": "new password",
                                   "password2": "new password"})  # fmt: skip
    assert done.status_code == 302 and done.headers["Location"].endswith("/login")
    assert accounts.authenticate("erin", "new password") is not None
    assert accounts.authenticate("erin", "old password") is None
    again = client.get(link)
    assert again.status_code == 400 and "does not work" in again.get_data(as_text=True)
    reused = client.post(link, data={"csrf_token": token, "password": "third password",
                                     "password2": "third password"})  # fmt: skip
    assert reused.status_code == 400 and accounts.authenticate("erin", "new password")


def test_reset_links_expire_after_an_hour(app, client, smtp, clock):
    """A reset link older than an hour does not work."""
    accounts.create_user("fay", "old password", "fay@example.org", email_verified=True)
    ask_reset(client, "fay")
    link = path_of(only_link(smtp.wait_for(1)[0], "/reset/"))
    clock.advance(3599)
    assert client.get(link).status_code == 200
    clock.advance(2)
    assert client.get(link).status_code == 400


def _without_csrf(html: str) -> str:
    import re

    return re.sub(r'(name="csrf[-_]token"[^>]*(value|content)=)"[^"]*"', r"\1", html)


def test_reset_never_reveals_whether_an_account_exists(app, client, smtp):
    """Known and unknown names and addresses get the same page; only real accounts get mail.

    By address, only verified addresses count; disabled accounts get nothing."""
    accounts.create_user("gus", "old password", "gus@example.org", email_verified=True)
    accounts.create_user("hal", "old password", "hal@example.org")  # unverified
    accounts.create_user("ida", "old password")  # no address
    off = accounts.create_user("joe", "old password", "joe@example.org", email_verified=True)
    off.is_disabled = True
    db.session.commit()
    pages = {}
    for who in ("gus", "nobody", "GUS@example.org", "nobody@example.org", "hal@example.org",
                "ida", "joe"):  # fmt: skip
        response = ask_reset(client, who)
        assert response.status_code == 200
        pages[who] = _without_csrf(response.get_data(as_text=True))
    assert len(set(pages.values())) == 1
    assert [r.recipients for r in smtp.received] == [["gus@example.org"], ["gus@example.org"]]


@pytest.mark.both_databases
def test_reset_requests_are_rate_limited(tmp_path, database_url, monkeypatch):
    """Too many reset requests from one address get 429."""
    monkeypatch.setenv("SANITY_INSTANCE_PATH", str(tmp_path))
    app = create_app(TestingConfig, {"DATABASE_URL": database_url, "RATELIMIT_ENABLED": True,
                                     "RESET_LIMIT_PER_ADDRESS": "2 per minute"})  # fmt: skip
    with app.app_context():
        upgrade()
        client = app.test_client()
        codes = [ask_reset(client, f"someone{i}").status_code for i in range(3)]
        assert codes == [200, 200, 429]
        db.session.remove()
        db.engine.dispose()


@pytest.mark.both_databases
def test_reset_mail_per_account_is_rate_limited(tmp_path, database_url, monkeypatch):
    """One account cannot be flooded with reset mail from many addresses."""
    monkeypatch.setenv("SANITY_INSTANCE_PATH", str(tmp_path))
    server = SmtpServer().start()
    app = create_app(TestingConfig, {"DATABASE_URL": database_url, "RATELIMIT_ENABLED": True,
                                     "MAIL_PORT": server.port,
                                     "MAIL_LIMIT_PER_ACCOUNT": "2 per hour"})  # fmt: skip
    try:
        with app.app_context():
            upgrade()
            accounts.create_user("kim", "old password", "kim@example.org", email_verified=True)
            client = app.test_client()
            codes = [ask_reset(client, "kim").status_code for _ in range(3)]
            assert codes == [200, 200, 429] and len(server.wait_for(2)) == 2
            db.session.remove()
            db.engine.dispose()
    finally:
        server.stop()
