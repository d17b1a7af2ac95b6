"""Sealing and opening an endpoint's signing secrets.

The associated data names the organization, application and endpoint, so a ciphertext copied
into another endpoint's row fails to decrypt instead of signing that endpoint's messages.
"""

from __future__ import annotations

from datetime import datetime

from corral.core.crypto import EncryptionKeyring
from corral.webhooks.models import WebhookEndpoint


def associated_data(endpoint: WebhookEndpoint) -> bytes:
    return f"webhook|{endpoint.org_id}|{endpoint.application_id}|{endpoint.id}".encode()


def seal(keyring: EncryptionKeyring, endpoint: WebhookEndpoint, secret: str) -> str:
    return keyring.encrypt(secret.encode(), associated_data(endpoint))


def open_secret(keyring: EncryptionKeyring, endpoint: WebhookEndpoint, ciphertext: str) -> str:
    return keyring.decrypt(ciphertext, associated_data(endpoint)).decode()


def secrets_in_use(
    keyring: EncryptionKeyring, endpoint: WebhookEndpoint, now: datetime
) -> list[str]:
    """The current secret, then the previous one while its overlap window lasts."""
    current = [open_secret(keyring, endpoint, endpoint.secret_ciphertext)]
    previous = endpoint.previous_secret_ciphertext
    expires = endpoint.previous_secret_expires_at
    if previous is not None and expires is not None and expires > now:
        current.append(open_secret(keyring, endpoint, previous))
    return current
