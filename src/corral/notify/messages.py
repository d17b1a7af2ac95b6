"""The emails Corral sends, each as plain text and HTML, with links under `CORRAL_PUBLIC_URL`.

The messages hold the one-time token inside their link, so they are never logged; whoever
builds one passes it straight to the sender.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

INVITATION_PATH = "/invitations/accept"
PASSWORD_RESET_PATH = "/password-reset"  # noqa: S105 — a URL path


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    """One message to one recipient. `kind` names it in logs and metrics (never the content)."""

    kind: str
    to: str
    subject: str
    text: str
    html: str


def link(public_url: str, path: str, token: str) -> str:
    """A dashboard link carrying a token, e.g. `https://corral.example.com/password-reset?token=…`."""
    return f"{public_url.rstrip('/')}{path}?{urlencode({'token': token})}"


def _expiry(expires_at: datetime) -> str:
    return expires_at.strftime("%Y-%m-%d %H:%M UTC")


def _html(title: str, paragraphs: list[str], action_label: str, url: str, footer: str) -> str:
    """A minimal, inline-styled HTML body: mail clients ignore stylesheets."""
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return (
        '<!DOCTYPE html><html><body style="font-family:sans-serif;line-height:1.5">'
        f"<h2>{html.escape(title)}</h2>{body}"
        f'<p><a href="{html.escape(url, quote=True)}" style="display:inline-block;'
        "padding:10px 16px;background:#1f6feb;color:#fff;text-decoration:none;"
        f'border-radius:6px">{html.escape(action_label)}</a></p>'
        f'<p style="color:#666;font-size:small">{html.escape(footer)}</p>'
        "</body></html>"
    )


def invitation_email(
    *,
    to: str,
    org_name: str,
    role: str,
    inviter: str | None,
    accept_url: str,
    expires_at: datetime,
) -> OutgoingEmail:
    who = f"{inviter} invited you" if inviter else "You are invited"
    lead = f"{who} to join the organization {org_name!r} on Corral as {role}."
    footer = (
        f"The link works once and until {_expiry(expires_at)}. "
        "If you did not expect this invitation, ignore this email."
    )
    text = (
        f"{lead}\n\nAccept the invitation (sign in or create your account with this address):\n"
        f"{accept_url}\n\n{footer}\n"
    )
    return OutgoingEmail(
        kind="invitation",
        to=to,
        subject=f"You are invited to {org_name} on Corral",
        text=text,
        html=_html(
            "Corral invitation",
            [lead, "Sign in or create your account with this address to accept."],
            "Accept the invitation",
            accept_url,
            footer,
        ),
    )


def password_reset_email(*, to: str, reset_url: str, expires_at: datetime) -> OutgoingEmail:
    lead = "Someone (hopefully you) asked to reset the password of your Corral account."
    footer = (
        f"The link works once and until {_expiry(expires_at)}. Setting a new password signs "
        "out every session of the account. If you did not ask for this, ignore this email: "
        "your password stays as it is."
    )
    return OutgoingEmail(
        kind="password_reset",
        to=to,
        subject="Reset your Corral password",
        text=f"{lead}\n\nChoose a new password:\n{reset_url}\n\n{footer}\n",
        html=_html("Reset your password", [lead], "Choose a new password", reset_url, footer),
    )
