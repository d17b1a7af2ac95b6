"""Sealing and opening a connection's credentials.

The associated data names the organization, application and connection, so a ciphertext copied
into another row (another tenant's, above all) fails to decrypt instead of leaking.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import SecretStr

from corral.connections.models import Connection
from corral.core.crypto import EncryptionKeyring


def associated_data(connection: Connection) -> bytes:
    return f"connection|{connection.org_id}|{connection.application_id}|{connection.id}".encode()


def split_auth(auth: Any) -> tuple[str, dict[str, str], dict[str, str]]:
    """The auth type, its public parameters, and its secret fields (revealed)."""
    public: dict[str, str] = {}
    secret: dict[str, str] = {}
    for field, value in auth.model_dump(exclude={"type"}).items():
        if isinstance(value, SecretStr):
            secret[field] = value.get_secret_value()
        else:
            public[field] = value
    return auth.type, public, secret


def seal(keyring: EncryptionKeyring, connection: Connection, secret: dict[str, str]) -> None:
    connection.secret_ciphertext = keyring.encrypt(
        orjson.dumps(secret), associated_data(connection)
    )


def open_secret(keyring: EncryptionKeyring, connection: Connection) -> dict[str, str]:
    """The decrypted secret fields; only the sidecar (and re-encryption) ever need them."""
    opened: dict[str, str] = orjson.loads(
        keyring.decrypt(connection.secret_ciphertext, associated_data(connection))
    )
    return opened
