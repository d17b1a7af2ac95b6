"""Argon2id password hashing with a server-side pepper."""

from __future__ import annotations

import hashlib
import hmac

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class PasswordHashing:
    def __init__(self, pepper: bytes, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._pepper = pepper
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )
        # Verifying against this when the account does not exist keeps login timing uniform.
        self._decoy = self._hasher.hash(self._peppered("decoy password for timing"))

    def _peppered(self, password: str) -> bytes:
        return hmac.new(self._pepper, password.encode(), hashlib.sha256).digest()

    def hash(self, password: str) -> str:
        return self._hasher.hash(self._peppered(password))

    def verify(self, stored_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash or self._decoy, self._peppered(password)) and (
                stored_hash is not None
            )
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._hasher.check_needs_rehash(stored_hash)
