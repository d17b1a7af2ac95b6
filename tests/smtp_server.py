"""A real SMTP server on 127.0.0.1 for the email tests (aiosmtpd, in a thread of its own).

It speaks plain SMTP, STARTTLS or implicit TLS with a throwaway CA, may require a login, and
hands each message it accepts to the test through a queue, parsed.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import queue
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.local_http import certificates_for

SMTP_USER = "corral-mailer"
SMTP_PASSWORD = "smtp-test-password"
# Long enough for a message to cross two threads on a loaded 2-core CI box; an event, not a sleep.
RECEIVE_TIMEOUT_SECONDS = 30.0
_TOKEN = re.compile(r"[?&]token=([A-Za-z0-9_\-]+)")


@dataclass(frozen=True, slots=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    # Whether the message travelled over TLS (STARTTLS or implicit).
    encrypted: bool
    authenticated_as: str | None

    def part(self, subtype: Literal["plain", "html"]) -> str:
        body = self.message.get_body(preferencelist=(subtype,))
        assert body is not None, self.message
        content: str = body.get_content()
        return content

    @property
    def token(self) -> str:
        """The one-time token in the message's link (the plain and HTML parts agree)."""
        found = _TOKEN.findall(self.part("plain"))
        assert len(found) == 1, self.part("plain")
        assert _TOKEN.findall(self.part("html").replace("&amp;", "&")) == found
        token: str = found[0]
        return token


class _Inbox:
    def __init__(self) -> None:
        self.received: queue.Queue[ReceivedMail] = queue.Queue()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 — aiosmtpd's hook name
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        login = session.authenticated and session.auth_data
        self.received.put(
            ReceivedMail(
                mail_from=str(envelope.mail_from),
                rcpt_tos=list(envelope.rcpt_tos),
                message=message,
                # STARTTLS marks the session; implicit TLS shows on the transport.
                encrypted=session.ssl is not None
                or (
                    server.transport is not None
                    and server.transport.get_extra_info("ssl_object") is not None
                ),
                authenticated_as=(
                    login.login.decode() if isinstance(login, LoginPassword) else None
                ),
            )
        )
        return "250 Message accepted for delivery"


def _authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == SMTP_USER.encode()
        and auth_data.password == SMTP_PASSWORD.encode()
    )
    return AuthResult(success=ok, auth_data=auth_data if ok else None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class SmtpServer:
    host: str
    port: int
    tls: Literal["none", "starttls", "tls"]
    ca_file: Path | None
    login: bool
    _inbox: _Inbox

    def settings(self) -> dict[str, Any]:
        """`smtp` settings that reach this server (for `make_settings(smtp=…)`)."""
        values: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "tls": self.tls,
            "from_address": "corral@example.com",
            "timeout_seconds": 10.0,
        }
        if self.ca_file is not None:
            values["ca_file"] = self.ca_file
        if self.login:
            values.update(username=SMTP_USER, password=SMTP_PASSWORD)
        return values

    async def next_message(self) -> ReceivedMail:
        """The next message the server accepted, waiting for it to arrive."""
        return await asyncio.to_thread(self._inbox.received.get, True, RECEIVE_TIMEOUT_SECONDS)

    def pending(self) -> int:
        return self._inbox.received.qsize()


@contextmanager
def smtp_server(
    directory: Path,
    *,
    tls: Literal["none", "starttls", "tls"] = "starttls",
    login: bool = True,
) -> Iterator[SmtpServer]:
    """Serve SMTP on 127.0.0.1 until the block ends. TLS uses a CA written to `directory`;
    the certificate names `localhost`, which is the host the client is given.
    """
    inbox = _Inbox()
    ca_file: Path | None = None
    kwargs: dict[str, Any] = {}
    if tls != "none":
        certificates = certificates_for("localhost", directory)
        ca_file = directory / "smtp-ca.pem"
        ca_file.write_text(certificates.ca_pem)
        if tls == "starttls":
            kwargs.update(tls_context=certificates.server_context, require_starttls=True)
        else:
            kwargs.update(ssl_context=certificates.server_context)
    if login:
        # aiosmtpd only counts STARTTLS as TLS for AUTH; implicit TLS is encrypted from the start.
        # (it warns when AUTH is required "without TLS", so with implicit TLS it is only offered).
        starttls = tls == "starttls"
        kwargs.update(
            authenticator=_authenticate, auth_required=starttls, auth_require_tls=starttls
        )
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield SmtpServer("localhost", port, tls, ca_file, login, inbox)
    finally:
        controller.stop()
