"""Each application's policies compiled once, and its bundle, cached per process.

A cached entry is valid while the application's revision counter (bumped in the transaction of
every policy or posture change, see `governance_settings.bump_revision`) is unchanged. The
counter is read from the database on every use, one primary-key lookup, so a change made
through any replica is in force on every replica at its next decision or bundle request.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio.to_thread
import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.governance.governance_settings import DEFAULT_POSTURE
from corral.governance.models import GovernanceSettings, PolicyRecord
from corral.identity.access import AppScope
from corral.identity.models import Application
from corral_sdk.policy import Action, Policy, PolicySet, Posture, ThrottleStore

DEFAULT_MAX_APPLICATIONS = 1024


@dataclass(frozen=True, slots=True)
class CompiledPolicies:
    """One application's enabled policies, compiled, with the bundle that describes them."""

    application_id: str
    counter: int
    revision: str
    default_posture: str
    policy_set: PolicySet
    bundle: bytes

    @property
    def etag(self) -> str:
        return f'"{self.revision}"'

    def enforces_throttle(self, name: str) -> bool:
        """Whether deciding a call named `name` may take a throttle token."""
        return any(
            entry.policy.action is Action.THROTTLE and not entry.policy.shadow
            for entry in self.policy_set.candidates(name)
        )


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _bundle_policy(record: PolicyRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "expression": record.expression,
        "action": record.action,
        "action_config": record.action_config,
        "priority": record.priority,
        "applies_to": list(record.applies_to),
        "enabled": record.enabled,
        "shadow": record.shadow,
    }


def stored_policy(record: PolicyRecord, *, enabled: bool | None = None) -> Policy:
    """The engine's value of a stored policy (`enabled` overrides the stored flag)."""
    return Policy(
        id=record.id,
        name=record.name,
        expression=record.expression,
        action=Action(record.action),
        action_config=record.action_config,
        priority=record.priority,
        applies_to=tuple(record.applies_to),
        enabled=record.enabled if enabled is None else enabled,
        shadow=record.shadow,
    )


def build_bundle(
    application_id: str,
    counter: int,
    default_posture: str,
    records: list[PolicyRecord],
    changed_at: datetime,
) -> tuple[str, bytes]:
    """The revision and the JSON bundle; the same state gives the same bytes on every replica."""
    content: dict[str, Any] = {
        "application_id": application_id,
        "default_posture": default_posture,
        "policies": [_bundle_policy(record) for record in records],
        # The time of the change that produced this state, so that the body, and hence the
        # strong ETag, depend on the stored state only.
        "generated_at": _rfc3339(changed_at),
    }
    digest = hashlib.sha256(
        orjson.dumps({**content, "counter": counter}, option=orjson.OPT_SORT_KEYS)
    ).hexdigest()
    revision = digest[:32]
    return revision, orjson.dumps({**content, "revision": revision})


class PolicySetCache:
    """Compiled policy sets per application, rebuilt when the revision counter moves."""

    def __init__(
        self, throttle_store: ThrottleStore, *, max_applications: int = DEFAULT_MAX_APPLICATIONS
    ) -> None:
        self.throttle_store = throttle_store
        self._max = max_applications
        self._entries: OrderedDict[str, CompiledPolicies] = OrderedDict()
        self._building = asyncio.Lock()
        self.builds = 0

    def invalidate(self) -> None:
        self._entries.clear()

    async def current(self, session: AsyncSession, application_id: str) -> CompiledPolicies:
        """The application's compiled policies as of the latest committed change."""
        row = (
            await session.execute(
                select(
                    GovernanceSettings.revision,
                    GovernanceSettings.default_posture,
                    GovernanceSettings.changed_at,
                ).where(GovernanceSettings.application_id == application_id)
            )
        ).first()
        counter = row.revision if row is not None else 0
        cached = self._entries.get(application_id)
        if cached is not None and cached.counter == counter:
            self._entries.move_to_end(application_id)
            return cached
        async with self._building:
            cached = self._entries.get(application_id)
            if cached is not None and cached.counter == counter:
                return cached
            if row is not None:
                posture, changed_at = row.default_posture, row.changed_at
            else:
                posture = DEFAULT_POSTURE
                changed_at = await session.scalar(
                    select(Application.created_at).where(Application.id == application_id)
                )
                assert changed_at is not None, "the scope's application exists"
            entry = await self._build(session, application_id, counter, posture, changed_at)
            self._entries[application_id] = entry
            self._entries.move_to_end(application_id)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
            return entry

    async def _build(
        self,
        session: AsyncSession,
        application_id: str,
        counter: int,
        posture: str,
        changed_at: datetime,
    ) -> CompiledPolicies:
        records = list(
            await session.scalars(
                select(PolicyRecord)
                .where(PolicyRecord.application_id == application_id, PolicyRecord.enabled)
                .order_by(PolicyRecord.priority.desc(), PolicyRecord.id)
            )
        )
        revision, bundle = build_bundle(application_id, counter, posture, records, changed_at)
        policies = [stored_policy(record) for record in records]

        def compile_set() -> PolicySet:
            # Not strict: a stored policy the engine now refuses stays in the set and fails as
            # its action requires (an invalid block blocks), rather than disabling every policy.
            return PolicySet(
                policies,
                default_posture=Posture(posture),
                throttle_store=self.throttle_store,
                strict=False,
            )

        policy_set = await anyio.to_thread.run_sync(compile_set)
        self.builds += 1
        return CompiledPolicies(application_id, counter, revision, posture, policy_set, bundle)


async def bundle_for(
    session: AsyncSession, scope: AppScope, cache: PolicySetCache
) -> CompiledPolicies:
    """The application's compiled policies and bundle, for a caller allowed to read policies."""
    scope.require("policies:read")
    return await cache.current(session, scope.application_id)
