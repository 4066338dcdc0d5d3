"""Outgoing mail over SMTP (the MAIL_* keys): multipart text + HTML messages."""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
from collections.abc import Callable, Mapping
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime, make_msgid

from flask import current_app

from sanity.timeutil import get_clock

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 30.0
# Headers whose value is a URL: written on one line as they are. Folding would cut the long URL
# into RFC 2047 encoded words, which mail clients do not decode in List-Unsubscribe.
URL_HEADERS = {"list-unsubscribe"}


class _MailPolicy(EmailPolicy):
    """SMTP policy; bodies 7-bit safe (quoted-printable/base64 for non-ASCII); URL headers kept."""

    def fold(self, name: str, value: str) -> str:
        if name.lower() in URL_HEADERS:  # ASCII without CR/LF (the header registry checks)
            return f"{name}: {value}{self.linesep}"
        return super().fold(name, value)

    def fold_binary(self, name: str, value: str) -> bytes:
        if name.lower() in URL_HEADERS:
            return self.fold(name, value).encode("ascii")
        return super().fold_binary(name, value)


MAIL_POLICY = _MailPolicy(linesep="\r\n", cte_type="7bit")


class MailError(Exception):
    """A message could not be sent; the text says why (the SMTP reply where there is one)."""


# ---- messages ----


def one_recipient(to: str) -> Address:
    """`to` as exactly one address, or MailError: never a list the server would fan out."""
    try:
        address = Address(addr_spec=(to or "").strip())
    except (ValueError, IndexError, TypeError, HeaderParseError) as exc:
        raise MailError(f"not one email address: {to!r}") from exc
    if address.addr_spec != (to or "").strip() or not address.domain:
        raise MailError(f"not one email address: {to!r}")
    return address


def make_message(
    to: str, subject: str, text: str, html: str | None = None, headers: Mapping | None = None
) -> EmailMessage:
    """A message with a plain-text part and, if given, an HTML alternative."""
    cfg = current_app.config
    sender = cfg["MAIL_FROM"]
    msg = EmailMessage(policy=MAIL_POLICY)
    msg["From"] = sender
    msg["To"] = one_recipient(to)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(get_clock().now())
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].strip("> ") or "localhost")
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    return msg


def render_message(
    to: str, subject: str, template: str, headers: Mapping | None = None, **context
) -> EmailMessage:
    """A message from templates/email/<template>.txt and .html (HTML autoescaped).

    Rendered without the app's context processors: mail is also built outside requests.
    """
    env = current_app.jinja_env
    text = env.get_template(f"email/{template}.txt").render(**context)
    html = env.get_template(f"email/{template}.html").render(**context)
    return make_message(to, subject, text, html, headers)


# ---- sending ----


def _describe(exc: Exception) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(exc.recipients.values()))
        return f"recipient refused: {code} {reply.decode(errors='replace')}"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {exc.smtp_error.decode(errors='replace')}"
    return str(exc) or type(exc).__name__


class Mailer:
    """One SMTP connection, opened on first use and reused; any error closes it.

    STARTTLS when MAIL_USE_TLS (never a silent downgrade: a server without it is an error),
    login when MAIL_USERNAME is set.
    """

    def __init__(self, config: Mapping | None = None) -> None:
        cfg = current_app.config if config is None else config
        self.settings = {key: cfg[key] for key in cfg if str(key).startswith("MAIL_")}
        self.conn: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        conn = smtplib.SMTP(s["MAIL_SERVER"], int(s["MAIL_PORT"]), timeout=TIMEOUT_SECONDS)
        try:
            if s["MAIL_USE_TLS"]:
                conn.starttls(context=ssl.create_default_context())
            if s["MAIL_USERNAME"]:
                conn.login(s["MAIL_USERNAME"], s["MAIL_PASSWORD"])
        except BaseException:
            conn.close()
            raise
        return conn

    def send(self, msg: EmailMessage) -> None:
        """Send one message or raise MailError."""
        try:
            if self.conn is None:
                self.conn = self._connect()
            self.conn.send_message(msg)
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise MailError(_describe(exc)) from exc

    def close(self) -> None:
        if self.conn is None:
            return
        try:
            self.conn.quit()
        except (smtplib.SMTPException, OSError):
            self.conn.close()
        self.conn = None

    def __enter__(self) -> Mailer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def send(msg: EmailMessage) -> None:
    """Send one message now (its own connection) or raise MailError."""
    with Mailer() as mailer:
        mailer.send(msg)


def send_in_background(msg: EmailMessage) -> threading.Thread:
    """Send without making the request wait (and without timing that reveals anything).

    Failures are logged, never raised.
    """
    mailer = Mailer()

    def run() -> None:
        try:
            with mailer:
                mailer.send(msg)
        except MailError as exc:
            log.error("could not send %r: %s", msg["Subject"], exc)

    thread = threading.Thread(target=run, name="sanity-mail", daemon=True)
    thread.start()
    return thread


def run_in_background(work: Callable[..., object], *args: object) -> threading.Thread:
    """Run `work(*args)` in a thread of this process with its own app context: the request
    answers at once and takes the same time whatever the work finds (accounts, addresses).

    A plain thread, not a queue: the mail leaves within seconds under `sanity serve` (with or
    without the scheduler) and under gunicorn alike. Errors are logged, never raised.
    """
    app = current_app._get_current_object()

    def run() -> None:
        with app.app_context():
            try:
                work(*args)
            except Exception:
                log.exception("background mail work %s failed", getattr(work, "__name__", work))

    thread = threading.Thread(target=run, name="sanity-mail", daemon=True)
    thread.start()
    return thread
