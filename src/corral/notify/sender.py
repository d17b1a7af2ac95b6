"""Sending after commit: at once when the caller reports the outcome, or in the background.

Why no durable outbox: the two messages Corral sends are both retried by a person, not by a
loop. An invitation is sent while its admin waits, who is told `email_sent: false` (with the
link) when delivery fails and may `resend`. A password-reset email is sent in the background
so that its timing cannot tell whether an account exists; if it is lost, the user asks again.
A row per message and a delivery loop would add a table holding live tokens for no gain.

Email is sent only after the transaction that created its token has committed, so a message
never carries a token that a rollback discarded, and no SMTP round trip holds a database lock.
"""

from __future__ import annotations

import asyncio

import structlog

from corral.core.settings import SmtpSettings
from corral.notify.messages import OutgoingEmail
from corral.notify.smtp import EmailDeliveryFailed, Mailer, SmtpMailer

_log = structlog.get_logger(__name__)


class EmailSender:
    """Delivers `OutgoingEmail`s through a mailer, or says plainly that email is off."""

    def __init__(self, mailer: Mailer | None) -> None:
        self._mailer = mailer
        self._tasks: set[asyncio.Task[bool]] = set()

    @property
    def configured(self) -> bool:
        return self._mailer is not None

    async def send_now(self, email: OutgoingEmail) -> bool:
        """Deliver and wait; False (logged, without the message) when email is off or failed."""
        if self._mailer is None:
            _log.info("email.not_sent", kind=email.kind, reason="smtp_not_configured")
            return False
        try:
            await self._mailer.send(email)
        except EmailDeliveryFailed as exc:
            _log.warning("email.send_failed", kind=email.kind, error=str(exc))
            return False
        _log.info("email.sent", kind=email.kind)
        return True

    def send_later(self, email: OutgoingEmail) -> None:
        """Deliver in the background; the caller answers without waiting."""
        task = asyncio.get_running_loop().create_task(self.send_now(email))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for background deliveries (each bounded by the SMTP timeout)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def build_email_sender(settings: SmtpSettings, *, production: bool) -> EmailSender:
    """The sender for these settings. A partial configuration warns loudly (production has
    refused to boot before this point); no configuration at all is said once, at info level.
    """
    missing = settings.missing_for_complete_config()
    if missing:
        if not production:
            _log.warning(
                "email.smtp_partly_configured",
                missing=missing,
                consequence="email is OFF: invitations and password resets are not sent",
                fix="set the missing settings, or unset every CORRAL_SMTP_* setting",
            )
        return EmailSender(None)
    if settings.host is None:
        _log.info(
            "email.disabled",
            reason="CORRAL_SMTP_HOST is not set",
            consequence="invitation links are returned to the inviting admin; "
            "password reset by email is unavailable",
        )
        return EmailSender(None)
    return EmailSender(SmtpMailer(settings))
