"""Every column that holds a secret encrypted with `CORRAL_ENCRYPTION_KEYS`, and re-encryption.

Rotating the keyring means: put the new key first (it encrypts from then on), keep the old ones
after it (they still decrypt), run `corral admin reencrypt` to move every stored secret to the
new key, then drop the old keys. Each slice that stores a secret lists its column here.

Re-encryption works in batches, each its own transaction, and writes a row only if its
ciphertext is still the one it read, so a secret changed through the API meanwhile is never
overwritten with the older one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

from corral.connections.credentials import associated_data as connection_aad
from corral.connections.models import Connection
from corral.core.crypto import DecryptionFailed, EncryptionKeyring
from corral.core.db import transaction
from corral.providers.keys import associated_data as provider_aad
from corral.providers.models import ApplicationProvider
from corral.webhooks.models import WebhookEndpoint
from corral.webhooks.secret_store import associated_data as webhook_aad

BATCH_ROWS = 200
MAX_REPORTED_FAILURES = 20


@dataclass(frozen=True)
class EncryptedColumn:
    """A column of ciphertexts, and the associated data each was sealed with."""

    name: str
    id_column: InstrumentedAttribute[str]
    column: InstrumentedAttribute[str]
    associated_data: Callable[[Any], bytes]


ENCRYPTED_COLUMNS: tuple[EncryptedColumn, ...] = (
    EncryptedColumn(
        "connections.secret_ciphertext",
        Connection.id,
        Connection.secret_ciphertext,
        connection_aad,
    ),
    EncryptedColumn(
        "model_providers.key_ciphertext",
        ApplicationProvider.id,
        ApplicationProvider.key_ciphertext,
        provider_aad,
    ),
    EncryptedColumn(
        "webhook_endpoints.secret_ciphertext",
        WebhookEndpoint.id,
        WebhookEndpoint.secret_ciphertext,
        webhook_aad,
    ),
    # Set only during a rotation's overlap window; rows without one are skipped.
    EncryptedColumn(
        "webhook_endpoints.previous_secret_ciphertext",
        WebhookEndpoint.id,
        WebhookEndpoint.previous_secret_ciphertext,  # type: ignore[arg-type]
        webhook_aad,
    ),
)


@dataclass
class ReencryptReport:
    column: str
    examined: int = 0
    reencrypted: int = 0
    already_current: int = 0
    changed_meanwhile: int = 0
    failed: int = 0
    failed_ids: list[str] = field(default_factory=list)


async def _reencrypt_column(
    sessions: async_sessionmaker[AsyncSession],
    keyring: EncryptionKeyring,
    target: EncryptedColumn,
    batch_rows: int,
) -> ReencryptReport:
    report = ReencryptReport(target.name)
    model = target.id_column.class_
    after = ""
    while True:
        async with transaction(sessions) as session:
            rows = list(
                await session.scalars(
                    select(model)
                    .where(target.id_column > after)
                    .order_by(target.id_column)
                    .limit(batch_rows)
                )
            )
            for row in rows:
                report.examined += 1
                old: str | None = getattr(row, target.column.key)
                if old is None or keyring.kid_of(old) == keyring.active_kid:
                    report.already_current += 1
                    continue
                aad = target.associated_data(row)
                try:
                    new = keyring.encrypt(keyring.decrypt(old, aad), aad)
                except DecryptionFailed:
                    report.failed += 1
                    if len(report.failed_ids) < MAX_REPORTED_FAILURES:
                        report.failed_ids.append(getattr(row, target.id_column.key))
                    continue
                result = await session.execute(
                    update(model)
                    .where(target.id_column == getattr(row, target.id_column.key))
                    .where(target.column == old)
                    .values({target.column.key: new})
                    .execution_options(synchronize_session=False)
                )
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    report.reencrypted += 1
                else:
                    report.changed_meanwhile += 1
        if len(rows) < batch_rows:
            return report
        after = getattr(rows[-1], target.id_column.key)


async def reencrypt_all(
    sessions: async_sessionmaker[AsyncSession],
    keyring: EncryptionKeyring,
    *,
    batch_rows: int = BATCH_ROWS,
) -> list[ReencryptReport]:
    """Move every stored secret to the keyring's active key; a report per column."""
    return [
        await _reencrypt_column(sessions, keyring, target, batch_rows)
        for target in ENCRYPTED_COLUMNS
    ]
