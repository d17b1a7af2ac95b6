"""Agents of an application: create, read, edit the draft, publish versions, delete.

The draft is the working copy that editing changes; publishing freezes it as an immutable
version. Versions only go forward: a published version is greater (by semantic versioning) than
every earlier one of the agent. Every change writes an audit event in the caller's transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import orjson
import semver
from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from corral.agents.manifest import Manifest
from corral.agents.models import Agent, AgentVersion
from corral.audit import service as audit
from corral.core.clock import utcnow
from corral.core.errors import Conflict, NotFound, PermissionDenied
from corral.core.ids import is_well_formed
from corral.core.pagination import paginate
from corral.identity.access import AppScope


def agent_not_found() -> NotFound:
    return NotFound("agent", code="agent_not_found")


def require_writer(scope: AppScope) -> None:
    """Agents are the application's, never one end-user's: impersonating keys cannot write."""
    scope.require("agents:write")
    if scope.end_user_id is not None:
        raise PermissionDenied(
            "acting as an end-user, you cannot change agents", code="impersonation_forbidden"
        )


def stored_manifest(manifest: Manifest) -> dict[str, Any]:
    """The manifest as stored: every field, defaults included, in JSON types."""
    return manifest.model_dump(mode="json")


def digest(manifest: dict[str, Any], prompt: str) -> str:
    canonical = orjson.dumps({"manifest": manifest, "prompt": prompt}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def _audit(
    session: AsyncSession,
    scope: AppScope,
    action: str,
    agent: Agent,
    details: dict[str, Any] | None = None,
) -> None:
    audit.record_in_application(
        session,
        scope,
        action,
        target_type="agent",
        target_id=agent.id,
        details={"name": agent.name, **(details or {})},
    )


def _by_reference(scope: AppScope, reference: str) -> Select[Agent]:
    query = select(Agent).where(Agent.application_id == scope.application_id)
    if is_well_formed(reference, "agt"):
        return query.where(Agent.id == reference)
    return query.where(Agent.name == reference)


async def find(
    session: AsyncSession, scope: AppScope, reference: str, *, for_update: bool = False
) -> Agent | None:
    """The application's agent by id (`agt_…`) or name, or None."""
    query = _by_reference(scope, reference)
    if for_update:
        query = query.with_for_update()
    agent: Agent | None = await session.scalar(query)
    return agent


async def get(
    session: AsyncSession, scope: AppScope, reference: str, *, for_update: bool = False
) -> Agent:
    scope.require("agents:read")
    agent = await find(session, scope, reference, for_update=for_update)
    if agent is None:
        raise agent_not_found()
    return agent


async def list_page(
    session: AsyncSession, scope: AppScope, *, q: str | None, cursor: str | None, limit: int
) -> tuple[Sequence[Agent], str | None]:
    scope.require("agents:read")
    query = select(Agent).where(Agent.application_id == scope.application_id)
    if q:
        escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(Agent.name.like(f"%{escaped}%", escape="\\"))
    return await paginate(session, query, Agent.id, cursor=cursor, limit=limit)


async def names_by_id(session: AsyncSession, scope: AppScope, ids: Sequence[str]) -> dict[str, str]:
    """The names of the application's agents among `ids`."""
    scope.require("agents:read")
    if not ids:
        return {}
    rows = await session.execute(
        select(Agent.id, Agent.name).where(
            Agent.application_id == scope.application_id, Agent.id.in_(set(ids))
        )
    )
    return dict(rows.all())


async def _flush_unique(session: AsyncSession, name: str) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"an agent named {name!r} exists in the application", code="agent_name_taken"
        ) from exc


def _set_draft(agent: Agent, manifest: Manifest, prompt: str) -> None:
    agent.draft_manifest = stored_manifest(manifest)
    agent.draft_prompt = prompt
    agent.description = manifest.description
    agent.updated_at = utcnow()


async def create(
    session: AsyncSession, scope: AppScope, manifest: Manifest, prompt: str, *, publish: bool
) -> tuple[Agent, AgentVersion | None]:
    """A new agent whose draft is this package; published at once when asked."""
    require_writer(scope)
    agent = Agent(org_id=scope.org_id, application_id=scope.application_id, name=manifest.name)
    _set_draft(agent, manifest, prompt)
    session.add(agent)
    await _flush_unique(session, manifest.name)
    _audit(session, scope, "agent.created", agent, {"version": manifest.version})
    version = await publish_draft(session, scope, agent) if publish else None
    return agent, version


async def update_draft(
    session: AsyncSession, scope: AppScope, agent: Agent, manifest: Manifest, prompt: str
) -> Agent:
    """Replace the draft. The name identifies the agent, so it cannot change here."""
    require_writer(scope)
    if manifest.name != agent.name:
        raise Conflict(
            f"the manifest names {manifest.name!r}, but this agent is {agent.name!r}",
            code="agent_name_mismatch",
        )
    _set_draft(agent, manifest, prompt)
    _audit(session, scope, "agent.draft_updated", agent, {"version": manifest.version})
    return agent


def draft_tag(agent: Agent) -> str:
    """What an editor saw: the draft and the newest published version. A save or publish that
    names an older tag would overwrite a change it never saw."""
    seen = f"{digest(agent.draft_manifest, agent.draft_prompt)}:{agent.latest_version or ''}"
    return hashlib.sha256(seen.encode()).hexdigest()[:32]


def require_draft_tag(agent: Agent, expected: str) -> None:
    if expected != draft_tag(agent):
        raise Conflict(
            "the draft changed since this editor was opened (saved or published by someone "
            "else); reload to see it, then apply your changes again",
            code="draft_changed",
        )


async def published_digests(
    session: AsyncSession, scope: AppScope, agents: Sequence[Agent]
) -> dict[str, str]:
    """Each agent's newest published version's digest, by agent id (none: never published)."""
    scope.require("agents:read")
    ids = [agent.id for agent in agents if agent.latest_version is not None]
    if not ids:
        return {}
    rows = await session.execute(
        select(AgentVersion.agent_id, AgentVersion.digest)
        .join(
            Agent,
            (Agent.id == AgentVersion.agent_id) & (Agent.latest_version == AgentVersion.version),
        )
        .where(Agent.application_id == scope.application_id, Agent.id.in_(ids))
    )
    return dict(rows.all())


def draft_is_published(agent: Agent, published: dict[str, str]) -> bool:
    """Whether the draft is exactly the newest published version."""
    return published.get(agent.id) == digest(agent.draft_manifest, agent.draft_prompt)


async def _published_versions(session: AsyncSession, agent: Agent) -> list[str]:
    rows = await session.scalars(
        select(AgentVersion.version).where(AgentVersion.agent_id == agent.id)
    )
    return list(rows)


async def publish_draft(session: AsyncSession, scope: AppScope, agent: Agent) -> AgentVersion:
    """Freeze the draft as a version, which must be greater than every published one."""
    require_writer(scope)
    draft_version = str(agent.draft_manifest["version"])
    proposed = semver.Version.parse(draft_version)
    published = [semver.Version.parse(v) for v in await _published_versions(session, agent)]
    newest = max(published, default=None)
    if newest is not None and proposed <= newest:
        raise Conflict(
            f"version {draft_version} is not greater than the published {newest}; "
            "raise the manifest's version to publish",
            code="version_not_forward",
            extra={"latest_version": str(newest)},
        )
    version = AgentVersion(
        agent_id=agent.id,
        org_id=agent.org_id,
        application_id=agent.application_id,
        version=draft_version,
        manifest=agent.draft_manifest,
        prompt=agent.draft_prompt,
        digest=digest(agent.draft_manifest, agent.draft_prompt),
    )
    session.add(version)
    agent.latest_version = draft_version
    agent.updated_at = utcnow()
    await session.flush()
    _audit(session, scope, "agent.published", agent, {"version": draft_version})
    return version


async def delete(session: AsyncSession, scope: AppScope, agent: Agent) -> None:
    """Delete the agent with its draft and versions."""
    require_writer(scope)
    _audit(session, scope, "agent.deleted", agent)
    await session.delete(agent)


async def versions_page(
    session: AsyncSession, scope: AppScope, agent: Agent, *, cursor: str | None, limit: int
) -> tuple[Sequence[AgentVersion], str | None]:
    scope.require("agents:read")
    query = select(AgentVersion).where(
        AgentVersion.agent_id == agent.id, AgentVersion.application_id == scope.application_id
    )
    return await paginate(session, query, AgentVersion.id, cursor=cursor, limit=limit)


async def get_version(
    session: AsyncSession, scope: AppScope, agent: Agent, version: str
) -> AgentVersion:
    scope.require("agents:read")
    record: AgentVersion | None = await session.scalar(
        select(AgentVersion).where(
            AgentVersion.agent_id == agent.id,
            AgentVersion.application_id == scope.application_id,
            AgentVersion.version == version,
        )
    )
    if record is None:
        raise NotFound("agent version", code="agent_version_not_found")
    return record


async def import_package(
    session: AsyncSession, scope: AppScope, manifest: Manifest, prompt: str, *, publish: bool
) -> tuple[Agent, bool, AgentVersion | None]:
    """Create the agent the manifest names, or replace its draft; publish when asked."""
    require_writer(scope)
    agent = await find(session, scope, manifest.name, for_update=True)
    if agent is None:
        agent, version = await create(session, scope, manifest, prompt, publish=publish)
        return agent, True, version
    await update_draft(session, scope, agent, manifest, prompt)
    version = await publish_draft(session, scope, agent) if publish else None
    return agent, False, version
