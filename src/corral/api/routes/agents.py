"""Agents of the current application: packages, the draft, published versions, zip exchange."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, status
from starlette.responses import Response

from corral.agents import packages, service
from corral.agents.models import Agent, AgentVersion
from corral.agents.schemas import (
    AgentCreate,
    AgentPackage,
    AgentRead,
    AgentSummary,
    AgentVersionRead,
    AgentVersionSummary,
    DraftRead,
    ImportResult,
)
from corral.api.deps import AppScopeDep, PageDep, SessionDep
from corral.api.openapi import ERRORS, problem_response
from corral.core.errors import UnsupportedMediaType
from corral.core.pagination import Page

router = APIRouter(tags=["agents"], responses=ERRORS)

AgentRef = Annotated[str, Path(max_length=64, description="The agent's id (`agt_…`) or name.")]
VersionRef = Annotated[str, Path(max_length=100, description="A published version, e.g. 1.0.0.")]
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: problem_response("The name is taken, or the version does not go forward.")
}
_ZIP = "application/zip"
_ZIP_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The package: manifest.json and prompt.md.",
        "content": {_ZIP: {"schema": {"type": "string", "format": "binary"}}},
    }
}
_ZIP_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {_ZIP: {"schema": {"type": "string", "format": "binary"}}},
    }
}


def read_agent(agent: Agent) -> AgentRead:
    return AgentRead(
        **AgentSummary.model_validate(agent).model_dump(),
        draft=DraftRead(manifest=agent.draft_manifest, prompt=agent.draft_prompt),
    )


def read_version(version: AgentVersion) -> AgentVersionRead:
    return AgentVersionRead.model_validate(version, from_attributes=True)


@router.get("/api/agents", response_model=Page[AgentSummary])
async def list_agents(
    scope: AppScopeDep,
    session: SessionDep,
    page: PageDep,
    q: Annotated[str | None, Query(max_length=63, description="Part of the name.")] = None,
) -> Page[AgentSummary]:
    """The application's agents, newest first."""
    rows, cursor = await service.list_page(
        session, scope, q=q, cursor=page.cursor, limit=page.limit
    )
    return Page[AgentSummary](
        data=[AgentSummary.model_validate(r) for r in rows], next_cursor=cursor
    )


@router.post(
    "/api/agents",
    status_code=status.HTTP_201_CREATED,
    response_model=AgentRead,
    responses=_CONFLICT,
)
async def create_agent(body: AgentCreate, scope: AppScopeDep, session: SessionDep) -> AgentRead:
    """A new agent from a manifest and prompt, published at once unless `publish` is false."""
    agent, _ = await service.create(
        session, scope, body.manifest, body.prompt, publish=body.publish
    )
    return read_agent(agent)


@router.post(
    "/api/agents/import",
    response_model=ImportResult,
    openapi_extra=_ZIP_BODY,
    responses={
        **_CONFLICT,
        413: problem_response("The zip, or a file in it, is too large."),
        415: problem_response("Not application/zip."),
    },
)
async def import_agent(
    request: Request, scope: AppScopeDep, session: SessionDep, publish: bool = False
) -> ImportResult:
    """Create the agent a package zip names, or replace its draft; publish it when asked."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != _ZIP:
        raise UnsupportedMediaType(f"send the package as {_ZIP}")
    package = packages.read_zip(await request.body())
    agent, created, version = await service.import_package(
        session, scope, package.manifest, package.prompt, publish=publish
    )
    return ImportResult(
        agent=read_agent(agent),
        created=created,
        published_version=None if version is None else version.version,
    )


@router.get("/api/agents/{agent}", response_model=AgentRead)
async def get_agent(agent: AgentRef, scope: AppScopeDep, session: SessionDep) -> AgentRead:
    """One agent with its draft."""
    return read_agent(await service.get(session, scope, agent))


@router.put("/api/agents/{agent}/draft", response_model=AgentRead, responses=_CONFLICT)
async def put_draft(
    agent: AgentRef, body: AgentPackage, scope: AppScopeDep, session: SessionDep
) -> AgentRead:
    """Replace the draft (the working copy); published versions do not change."""
    record = await service.get(session, scope, agent, for_update=True)
    await service.update_draft(session, scope, record, body.manifest, body.prompt)
    return read_agent(record)


@router.post(
    "/api/agents/{agent}/publish",
    status_code=status.HTTP_201_CREATED,
    response_model=AgentVersionRead,
    responses=_CONFLICT,
)
async def publish_agent(
    agent: AgentRef, scope: AppScopeDep, session: SessionDep
) -> AgentVersionRead:
    """Publish the draft as the manifest's version, which must be greater than the last."""
    record = await service.get(session, scope, agent, for_update=True)
    return read_version(await service.publish_draft(session, scope, record))


@router.delete("/api/agents/{agent}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_agent(agent: AgentRef, scope: AppScopeDep, session: SessionDep) -> None:
    """Delete the agent, its draft and its versions."""
    record = await service.get(session, scope, agent, for_update=True)
    await service.delete(session, scope, record)


@router.get("/api/agents/{agent}/versions", response_model=Page[AgentVersionSummary])
async def list_versions(
    agent: AgentRef, scope: AppScopeDep, session: SessionDep, page: PageDep
) -> Page[AgentVersionSummary]:
    """Published versions, newest first."""
    record = await service.get(session, scope, agent)
    rows, cursor = await service.versions_page(
        session, scope, record, cursor=page.cursor, limit=page.limit
    )
    return Page[AgentVersionSummary](
        data=[AgentVersionSummary.model_validate(r) for r in rows], next_cursor=cursor
    )


@router.get("/api/agents/{agent}/versions/{agent_version}", response_model=AgentVersionRead)
async def get_version(
    agent: AgentRef, agent_version: VersionRef, scope: AppScopeDep, session: SessionDep
) -> AgentVersionRead:
    """One published version, whole."""
    record = await service.get(session, scope, agent)
    return read_version(await service.get_version(session, scope, record, agent_version))


@router.get("/api/agents/{agent}/export", response_class=Response, responses=_ZIP_RESPONSE)
async def export_agent(
    agent: AgentRef,
    scope: AppScopeDep,
    session: SessionDep,
    version: Annotated[
        str | None, Query(max_length=100, description="A published version; the draft if absent.")
    ] = None,
) -> Response:
    """The agent as a package zip (the draft, or a published version)."""
    record = await service.get(session, scope, agent)
    if version is None:
        manifest, prompt, label = record.draft_manifest, record.draft_prompt, "draft"
    else:
        published = await service.get_version(session, scope, record, version)
        manifest, prompt, label = published.manifest, published.prompt, published.version
    return Response(
        packages.build_zip(manifest, prompt),
        media_type=_ZIP,
        headers={"Content-Disposition": f'attachment; filename="{record.name}-{label}.zip"'},
    )
