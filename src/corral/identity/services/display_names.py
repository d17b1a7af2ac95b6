"""Names people recognise for the users and API keys of one organization, looked up in bulk."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.identity.models import ApiKey, Membership, User


async def user_and_key_names(
    session: AsyncSession, org_id: str, *, user_ids: Iterable[str], key_ids: Iterable[str]
) -> dict[str, str]:
    """id → name for the organization's members and API keys; ids of another org are absent,
    so a caller cannot learn a stranger's name by putting their id in front of this."""
    names: dict[str, str] = {}
    wanted_users = set(user_ids)
    if wanted_users:
        rows = await session.execute(
            select(User.id, User.name, User.email)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.org_id == org_id, User.id.in_(wanted_users))
        )
        for user_id, name, email in rows:
            names[user_id] = f"{name} <{email}>" if name else email
    wanted_keys = set(key_ids)
    if wanted_keys:
        key_rows = await session.execute(
            select(ApiKey.id, ApiKey.name).where(
                ApiKey.org_id == org_id, ApiKey.id.in_(wanted_keys)
            )
        )
        for key_id, key_name in key_rows:
            names[key_id] = key_name
    return names
