"""The development quickstart: a seeded org, owner and the well-known dev API key."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.core.crypto import token_digest
from corral.core.request_context import Actor
from corral.identity.access import LOOKUP_PREFIX_CHARS
from corral.identity.models import ApiKey, Application, User
from corral.identity.permissions import KEY_SCOPES
from corral.identity.services import accounts, api_keys, organizations

DEV_ORG_NAME = "Development"
DEV_KEY_NAME = "development key (rotate before production)"


@dataclass(frozen=True, slots=True)
class DevSeed:
    owner_email: str
    owner_password: str | None
    application_id: str
    api_key: str


async def seed_dev(
    session: AsyncSession, deps: accounts.AccountDeps, *, owner_email: str, api_key: str
) -> DevSeed:
    """Create what is missing of the dev seed; safe to run at every boot."""
    actor = Actor.system("seed-dev")
    password: str | None = None
    owner = await session.scalar(select(User).where(User.email == owner_email))
    if owner is None:
        password = secrets.token_urlsafe(12)
        owner = await accounts.create_user(
            session, deps, email=owner_email, password=password, name="Dev Owner", actor=actor
        )
        await organizations.create_organization(session, owner, name=DEV_ORG_NAME, actor=actor)
    org_id = (await accounts.memberships_of(session, owner.id))[0][0]
    app_id = await session.scalar(
        select(Application.id).where(Application.org_id == org_id, Application.is_default)
    )
    assert app_id is not None
    existing = await session.scalar(
        select(ApiKey).where(ApiKey.lookup_prefix == api_key[:LOOKUP_PREFIX_CHARS])
    )
    if existing is not None and existing.secret_digest != token_digest(api_key):
        await session.delete(existing)
        await session.flush()
        existing = None
    if existing is not None and set(existing.scopes) != KEY_SCOPES:
        # Seeded by an earlier version: the dev key holds every scope there is, new ones too.
        existing.scopes = sorted(KEY_SCOPES)
    if existing is None:
        key, _ = api_keys.build_key(
            org_id=org_id,
            application_id=app_id,
            name=DEV_KEY_NAME,
            scopes=sorted(KEY_SCOPES),
            expires_at=None,
            created_by_user_id=owner.id,
            token=api_key,
        )
        session.add(key)
    return DevSeed(owner.email, password, app_id, api_key)
