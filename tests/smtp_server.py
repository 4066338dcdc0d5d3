"""A real SMTP server for the tests (aiosmtpd on 127.0.0.1) that keeps what it receives."""

from __future__ import annotations

import re
import socket
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    """One accepted message: the envelope, the bytes as they came and the parsed MIME."""

    sender: str
    recipients: list[str]
    raw: bytes
    message: EmailMessage

    @property
    def text(self) -> str:
        return self.message.get_body(("plain",)).get_content()

    @property
    def html(self) -> str:
        return self.message.get_body(("html",)).get_content()

    def links(self, part: str = "text") -> list[str]:
        body = self.text if part == "text" else self.html
        return re.findall(r"https?://[^\s\"<>]+", body)


@dataclass
class Handler:
    """Accepts everything except the addresses in `reject` (550 at RCPT)."""

    received: list[Received] = field(default_factory=list)
    reject: set[str] = field(default_factory=set)
    logins: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.reject:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content, parsed)
            )
        return "250 Message accepted for delivery"


class SmtpServer:
    """aiosmtpd's Controller on a free port; `auth=(user, password)` offers AUTH."""

    def __init__(self, auth: tuple[str, str] | None = None) -> None:
        self.handler = Handler()
        self.port = free_port()
        kwargs = {}
        if auth is not None:
            # Plain-text AUTH is fine on loopback (aiosmtpd warns when it is *required*).
            kwargs = dict(authenticator=self._authenticator(auth), auth_require_tls=False)
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **kwargs)

    def _authenticator(self, expected: tuple[str, str]):
        def check(server, session, envelope, mechanism, auth_data):
            login = (auth_data.login.decode(), auth_data.password.decode())
            self.handler.logins.append(login)
            return AuthResult(success=login == expected, handled=False)

        return check

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.recipients]

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """The messages once at least `count` arrived (for mail sent in the background)."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.received
