"""The SMTP client against a real local SMTP server: each TLS mode, login, failures, messages."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pytest
from structlog.testing import capture_logs

from corral.core.settings import SmtpSettings
from corral.notify.messages import (
    INVITATION_PATH,
    PASSWORD_RESET_PATH,
    invitation_email,
    link,
    password_reset_email,
)
from corral.notify.sender import EmailSender, build_email_sender
from corral.notify.smtp import EmailDeliveryFailed, SmtpMailer
from tests.smtp_server import smtp_server

EXPIRES = datetime(2030, 1, 2, 3, 4, tzinfo=UTC)
TOKEN = "pwr_abc-DEF_123"


def _reset_email(to: str = "ada@example.com") -> Any:
    url = link("https://corral.example.com/", PASSWORD_RESET_PATH, TOKEN)
    return password_reset_email(to=to, reset_url=url, expires_at=EXPIRES)


@pytest.mark.parametrize("tls", ["none", "starttls", "tls"])
async def test_delivers_over_each_tls_mode(
    tmp_path: Path, tls: Literal["none", "starttls", "tls"]
) -> None:
    with smtp_server(tmp_path, tls=tls, login=tls != "none") as server:
        mailer = SmtpMailer(SmtpSettings.model_validate(server.settings()))
        await mailer.send(_reset_email())
        received = await server.next_message()
    assert received.encrypted == (tls != "none")
    assert received.authenticated_as == (None if tls == "none" else "corral-mailer")
    assert received.mail_from == "corral@example.com"
    assert received.rcpt_tos == ["ada@example.com"]
    message = received.message
    assert message["Subject"] == "Reset your Corral password"
    assert message["From"] == "corral@example.com"
    assert message["Auto-Submitted"] == "auto-generated"
    assert received.token == TOKEN
    assert f"https://corral.example.com{PASSWORD_RESET_PATH}?token={TOKEN}" in received.part(
        "plain"
    )
    assert "2030-01-02 03:04 UTC" in received.part("plain")


async def test_server_certificate_from_an_unknown_ca_is_refused(tmp_path: Path) -> None:
    with smtp_server(tmp_path, tls="starttls") as server:
        settings = server.settings()
        del settings["ca_file"]  # the system store does not know the test CA
        mailer = SmtpMailer(SmtpSettings.model_validate(settings))
        with pytest.raises(EmailDeliveryFailed):
            await mailer.send(_reset_email())
        assert server.pending() == 0


async def test_wrong_login_is_a_delivery_failure(tmp_path: Path) -> None:
    with smtp_server(tmp_path, tls="starttls") as server:
        mailer = SmtpMailer(SmtpSettings.model_validate({**server.settings(), "password": "wrong"}))
        with pytest.raises(EmailDeliveryFailed):
            await mailer.send(_reset_email())
        assert server.pending() == 0


async def test_a_silent_server_times_out() -> None:
    # Accepts connections (the kernel's backlog) but never greets.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        settings = SmtpSettings(
            host="127.0.0.1",
            port=silent.getsockname()[1],
            tls="none",
            from_address="corral@example.com",
            timeout_seconds=0.2,
        )
        with pytest.raises(EmailDeliveryFailed, match="Timeout"):
            await SmtpMailer(settings).send(_reset_email())


async def test_sender_reports_failure_without_the_message(tmp_path: Path) -> None:
    settings = SmtpSettings(
        host="127.0.0.1",
        port=_closed_port(),
        tls="none",
        from_address="corral@example.com",
    )
    sender = EmailSender(SmtpMailer(settings))
    with capture_logs() as logs:
        assert await sender.send_now(_reset_email()) is False
    assert [(e["event"], e["kind"]) for e in logs] == [("email.send_failed", "password_reset")]
    assert TOKEN not in repr(logs)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_partial_configuration_warns_once_naming_what_is_missing() -> None:
    with capture_logs() as logs:
        sender = build_email_sender(SmtpSettings(host="smtp.example.com"), production=False)
    assert not sender.configured
    warnings = [e for e in logs if e["log_level"] == "warning"]
    assert len(warnings) == 1
    assert warnings[0]["event"] == "email.smtp_partly_configured"
    assert warnings[0]["missing"] == ["CORRAL_SMTP_FROM_ADDRESS"]


def test_no_configuration_says_email_is_off() -> None:
    with capture_logs() as logs:
        sender = build_email_sender(SmtpSettings(), production=False)
    assert not sender.configured
    assert [e["event"] for e in logs] == ["email.disabled"]


async def test_unconfigured_sender_sends_nothing_and_says_so() -> None:
    with capture_logs() as logs:
        assert await EmailSender(None).send_now(_reset_email()) is False
    assert logs[0]["event"] == "email.not_sent"
    assert logs[0]["reason"] == "smtp_not_configured"


def test_invitation_email_escapes_names_in_html() -> None:
    url = link("https://corral.example.com", INVITATION_PATH, "inv_x")
    message = invitation_email(
        to="bob@example.com",
        org_name="<script>Acme</script>",
        role="admin",
        inviter="ada@example.com",
        accept_url=url,
        expires_at=EXPIRES,
    )
    assert "<script>" not in message.html
    assert "&lt;script&gt;" in message.html
    assert "<script>Acme</script>" in message.text
    assert "ada@example.com invited you" in message.text
    assert f'href="{url}"' in message.html
    assert url == "https://corral.example.com/invitations/accept?token=inv_x"
