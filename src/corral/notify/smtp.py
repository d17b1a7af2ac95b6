"""Delivery over SMTP with `aiosmtplib`: plain, STARTTLS or implicit TLS, every step bounded."""

from __future__ import annotations

import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol

import aiosmtplib

from corral.core.settings import SmtpSettings
from corral.notify.messages import OutgoingEmail


class EmailDeliveryFailed(Exception):
    """The SMTP server could not be reached, refused us, or refused the message."""


class Mailer(Protocol):
    async def send(self, email: OutgoingEmail) -> None: ...


def build_message(email: OutgoingEmail, from_address: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = from_address
    message["To"] = email.to
    message["Subject"] = email.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=from_address.rpartition("@")[2] or None)
    # Automated mail: auto-responders should not answer it.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(email.text)
    message.add_alternative(email.html, subtype="html")
    return message


class SmtpMailer:
    """Sends each message over a fresh connection: Corral's mail is rare, pooling buys nothing."""

    def __init__(self, settings: SmtpSettings) -> None:
        if settings.host is None or settings.from_address is None:
            raise ValueError("SMTP needs CORRAL_SMTP_HOST and CORRAL_SMTP_FROM_ADDRESS")
        self._settings = settings
        self._host = settings.host
        self._from = settings.from_address
        self._tls_context = (
            ssl.create_default_context(cafile=str(settings.ca_file))
            if settings.ca_file is not None
            else ssl.create_default_context()
        )

    async def send(self, email: OutgoingEmail) -> None:
        s = self._settings
        try:
            await aiosmtplib.send(
                build_message(email, self._from),
                sender=self._from,
                recipients=[email.to],
                hostname=self._host,
                port=s.port,
                username=s.username,
                password=s.password.get_secret_value() if s.password is not None else None,
                use_tls=s.tls == "tls",
                # False, not None: with `none`, never upgrade even if the server offers it.
                start_tls=s.tls == "starttls",
                tls_context=self._tls_context if s.tls != "none" else None,
                timeout=s.timeout_seconds,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise EmailDeliveryFailed(f"{type(exc).__name__}: {exc}") from exc
