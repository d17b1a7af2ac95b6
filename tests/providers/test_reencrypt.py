"""Re-encryption moves application provider keys to the active key, like every stored secret."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import select

from corral.core.crypto import EncryptionKeyring
from corral.providers import keys
from corral.providers.models import ApplicationProvider
from corral.secrets_at_rest import reencrypt_all
from tests.clients import ApiClient
from tests.traces.support import container_of

NEW_KID = "rotated"
NEW_KEY = b"\x09" * 32


async def test_reencrypt_moves_provider_keys_to_the_active_key(
    owner: ApiClient, app: FastAPI
) -> None:
    created = []
    for number in range(3):
        response = await owner.post(
            "/api/providers",
            json={
                "api": "openai-chat",
                "base_url": "https://llm.example.com/v1",
                "api_key": f"sk-provider-key-{number:016d}",
                "models": ["m"],
            },
        )
        assert response.status_code == 201, response.text
        created.append(response.json()["id"])
    container = container_of(app)
    old = container.keyring
    rotated = EncryptionKeyring(((NEW_KID, NEW_KEY), *container.secrets.encryption_keys))
    reports = await reencrypt_all(container.sessions, rotated)
    report = next(r for r in reports if r.column == "model_providers.key_ciphertext")
    assert (report.examined, report.reencrypted, report.failed) == (3, 3, 0)
    async with container.sessions() as session:
        rows = list(
            await session.scalars(select(ApplicationProvider).order_by(ApplicationProvider.id))
        )
    assert [row.id for row in rows] == created
    assert {rotated.kid_of(row.key_ciphertext) for row in rows} == {NEW_KID}
    only_new = EncryptionKeyring(((NEW_KID, NEW_KEY),))
    assert [keys.open_key(only_new, row) for row in rows] == [
        f"sk-provider-key-{n:016d}" for n in range(3)
    ]
    assert old.active_kid != NEW_KID
