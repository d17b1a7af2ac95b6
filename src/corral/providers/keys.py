"""Sealing and opening an application provider's API key.

The associated data names the organization, application and provider, so a ciphertext copied
into another row (another tenant's, above all) fails to decrypt instead of being used.
"""

from __future__ import annotations

from corral.core.crypto import EncryptionKeyring
from corral.providers.models import ApplicationProvider

# Keys shorter than this show no hint: four characters of a short key are too much of it.
MIN_KEY_CHARS_FOR_HINT = 16
HINT_CHARS = 4


def associated_data(provider: ApplicationProvider) -> bytes:
    return f"provider|{provider.org_id}|{provider.application_id}|{provider.id}".encode()


def hint(api_key: str) -> str:
    return api_key[-HINT_CHARS:] if len(api_key) >= MIN_KEY_CHARS_FOR_HINT else ""


def seal(keyring: EncryptionKeyring, provider: ApplicationProvider, api_key: str) -> None:
    provider.key_ciphertext = keyring.encrypt(api_key.encode(), associated_data(provider))
    provider.key_hint = hint(api_key)


def open_key(keyring: EncryptionKeyring, provider: ApplicationProvider) -> str:
    """The decrypted key; only the model gateway (and re-encryption) ever need it."""
    return keyring.decrypt(provider.key_ciphertext, associated_data(provider)).decode()
