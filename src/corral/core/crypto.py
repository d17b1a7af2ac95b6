"""Keyrings: AES-256-GCM encryption at rest and HMAC signing, both rotatable by key id."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from corral.core.errors import CorralError

_NONCE_BYTES = 12
_FORMAT = "v1"


class DecryptionFailed(CorralError):
    code = "decryption_failed"
    title = "Stored secret cannot be decrypted"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class EncryptionKeyring:
    """Encrypts with the first key; decrypts with whichever key id the ciphertext names.

    The associated data binds a ciphertext to its owner (for example `org_…|conn_…`), so a
    ciphertext copied into another tenant's row fails to decrypt.
    """

    def __init__(self, keys: tuple[tuple[str, bytes], ...]) -> None:
        if not keys:
            raise ValueError("an encryption keyring needs at least one key")
        self._active_kid = keys[0][0]
        self._ciphers = {kid: AESGCM(key) for kid, key in keys}

    @property
    def active_kid(self) -> str:
        return self._active_kid

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._ciphers[self._active_kid].encrypt(nonce, plaintext, associated_data)
        return f"{_FORMAT}.{self._active_kid}.{_b64(nonce + sealed)}"

    def decrypt(self, token: str, associated_data: bytes) -> bytes:
        try:
            version, kid, body = token.split(".", 2)
        except ValueError as exc:
            raise DecryptionFailed("malformed ciphertext") from exc
        cipher = self._ciphers.get(kid)
        if version != _FORMAT or cipher is None:
            raise DecryptionFailed(f"no key {kid!r} in CORRAL_ENCRYPTION_KEYS")
        try:
            raw = _unb64(body)
            if len(raw) <= _NONCE_BYTES:
                raise DecryptionFailed("ciphertext is truncated")
            return cipher.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], associated_data)
        except (InvalidTag, ValueError) as exc:
            raise DecryptionFailed("ciphertext was altered or belongs elsewhere") from exc

    def kid_of(self, token: str) -> str:
        return token.split(".", 2)[1]


class Signer:
    """HMAC-SHA256 with the first key; verification accepts any configured key."""

    def __init__(self, keys: tuple[bytes, ...]) -> None:
        if not keys:
            raise ValueError("a signer needs at least one key")
        self._keys = keys

    def sign(self, message: bytes, *, purpose: str) -> str:
        return _b64(self._mac(self._keys[0], message, purpose))

    def verify(self, message: bytes, signature: str, *, purpose: str) -> bool:
        try:
            given = _unb64(signature)
        except (ValueError, TypeError):
            return False
        return any(hmac.compare_digest(self._mac(k, message, purpose), given) for k in self._keys)

    @staticmethod
    def _mac(key: bytes, message: bytes, purpose: str) -> bytes:
        # Mixing the purpose into the key keeps a signature made for one use from verifying
        # for another.
        derived = hmac.new(key, purpose.encode(), hashlib.sha256).digest()
        return hmac.new(derived, message, hashlib.sha256).digest()


def token_digest(token: str) -> str:
    """Stored form of a high-entropy bearer token (API keys, sessions): its SHA-256 in hex.

    These tokens carry ≥256 bits of randomness, so a fast hash is safe and allows O(1) lookup.
    """
    return hashlib.sha256(token.encode()).hexdigest()
