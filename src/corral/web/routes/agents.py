"""Agents: the list with a name search, create, an agent with its versions and recent runs, a
published version, and "Start a run"."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import BackgroundTasks, Form, Path, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from corral.agents import service
from corral.agents.models import Agent
from corral.api.deps import ContainerDep, SessionDep
from corral.core.errors import CorralError
from corral.runs import creation
from corral.runs import service as runs
from corral.runs.schemas import RunCreate
from corral.web.agent_forms import (
    STARTER_MANIFEST,
    PackageForm,
    Problem,
    pretty,
    read_input,
    read_package,
    refusal_problems,
)
from corral.web.control import PAGE_SIZE, attempt, scope_of, show_refusal, when
from corral.web.errors import page_router
from corral.web.listing import next_page_url
from corral.web.responses import PagesDep, after_post, page_context
from corral.web.viewer import CheckedViewerDep, Viewer, ViewerDep

router = page_router()

AGENTS_PATH = "/agents"
RECENT_RUNS = 10
AgentRef = Annotated[str, Path(max_length=64)]
VersionRef = Annotated[str, Path(max_length=100)]
Cursor = Annotated[str | None, Query(max_length=200)]
# A manifest with its schemas is at most a few hundred KiB; the prompt up to 200,000 characters.
LongText = Annotated[str, Form(max_length=1_000_000)]
Short = Annotated[str, Form(max_length=100)]
DRAFT = creation.DRAFT


def agent_path(agent: Agent) -> str:
    return f"{AGENTS_PATH}/{agent.name}"


def manifest_summary(manifest: dict[str, Any]) -> dict[str, Any]:
    """What the agent and version pages show of a manifest, schemas as indented JSON."""
    return {
        "model": manifest.get("model", {}),
        "tools": manifest.get("tools", []),
        "skills": manifest.get("skills", []),
        "timeout_seconds": manifest.get("timeout_seconds"),
        "input_schema": pretty(manifest.get("input_schema", {})),
        "output_schema": pretty(manifest.get("output_schema", {})),
    }


def _example_input(manifest: dict[str, Any]) -> str:
    """An input to start from: the schema's properties, each empty."""
    properties = manifest.get("input_schema", {}).get("properties", {})
    if not isinstance(properties, dict):
        return "{}"
    example = dict.fromkeys(properties, "")
    return pretty(example) if example else "{}"


async def _list_page(
    request: Request,
    viewer: Viewer,
    session: AsyncSession,
    pages: PagesDep,
    *,
    q: str = "",
    cursor: str | None = None,
    status_code: int = 200,
    form: PackageForm | None = None,
    publish: bool = True,
) -> Response:
    scope = scope_of(viewer)
    rows, next_cursor = await service.list_page(
        session, scope, q=q or None, cursor=cursor, limit=PAGE_SIZE
    )
    published = await service.published_digests(session, scope, rows)
    agents = [
        {
            "agent": agent,
            "draft_published": service.draft_is_published(agent, published),
            "updated": when(agent.updated_at),
        }
        for agent in rows
    ]
    context = page_context(
        request,
        viewer,
        title="Agents",
        agents=agents,
        q=q,
        paged=cursor is not None,
        first_url=AGENTS_PATH + (f"?{urlencode({'q': q})}" if q else ""),
        next_url=next_page_url(AGENTS_PATH, {"q": q}, next_cursor),
        form=form or PackageForm(manifest_text=pretty(STARTER_MANIFEST), prompt=""),
        publish=publish,
    )
    return pages.render("agents.html", context, status_code=status_code)


@router.get(AGENTS_PATH)
async def agents_page(
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    pages: PagesDep,
    q: Annotated[str, Query(max_length=63)] = "",
    cursor: Cursor = None,
) -> Response:
    return await _list_page(request, viewer, session, pages, q=q.strip(), cursor=cursor)


@router.post(AGENTS_PATH)
async def create_agent(
    request: Request,
    viewer: CheckedViewerDep,
    session: SessionDep,
    container: ContainerDep,
    pages: PagesDep,
    manifest: LongText = "",
    prompt: LongText = "",
    publish: Short = "",
) -> Response:
    scope = scope_of(viewer)
    service.require_writer(scope)
    form = read_package(manifest, prompt)
    if not form.valid:
        return await _list_page(
            request, viewer, session, pages, status_code=422, form=form, publish=bool(publish)
        )
    assert form.manifest is not None
    package = form.manifest
    created = await attempt(
        session, service.create(session, scope, package, prompt, publish=bool(publish))
    )
    if isinstance(created, CorralError):
        form.manifest_problems.append(Problem("", created.detail))
        return await show_refusal(
            container,
            session,
            created,
            lambda fresh, code, _: _list_page(
                request, viewer, fresh, pages, status_code=code, form=form, publish=bool(publish)
            ),
        )
    agent, _ = created
    return after_post(request, agent_path(agent))


async def _detail_page(
    request: Request,
    viewer: Viewer,
    session: AsyncSession,
    pages: PagesDep,
    reference: str,
    *,
    versions_cursor: str | None = None,
    status_code: int = 200,
    run_input: str | None = None,
    run_version: str = "",
    run_problems: list[Problem] | None = None,
) -> Response:
    scope = scope_of(viewer)
    agent = await service.get(session, scope, reference)
    versions, next_versions = await service.versions_page(
        session, scope, agent, cursor=versions_cursor, limit=PAGE_SIZE
    )
    published = await service.published_digests(session, scope, [agent])
    recent: list[Any] = []
    if viewer.can("runs:read"):
        rows, _ = await runs.list_page(
            session, scope, status=None, agent_id=agent.id, cursor=None, limit=RECENT_RUNS
        )
        recent = [runs.read(row) for row in rows]
    shown = agent.draft_manifest
    if agent.latest_version is not None:
        latest = await service.get_version(session, scope, agent, agent.latest_version)
        shown = latest.manifest
    context = page_context(
        request,
        viewer,
        title=f"Agent {agent.name}",
        agent=agent,
        draft_published=service.draft_is_published(agent, published),
        summary=manifest_summary(shown),
        summary_of=agent.latest_version or "draft",
        versions=[{"version": v, "published": when(v.created_at)} for v in versions],
        more_versions_url=(
            None
            if next_versions is None
            else f"{agent_path(agent)}?versions_cursor={next_versions}"
        ),
        runs=recent,
        all_runs_url=f"/runs?agent_id={agent.id}",
        can_run=viewer.can("runs:write"),
        draft_label=DRAFT,
        run_input=_example_input(shown) if run_input is None else run_input,
        run_version=run_version,
        run_problems=run_problems or [],
        created=when(agent.created_at),
        updated=when(agent.updated_at),
    )
    return pages.render("agent.html", context, status_code=status_code)


@router.get(AGENTS_PATH + "/{reference}")
async def agent_page(
    request: Request,
    reference: AgentRef,
    viewer: ViewerDep,
    session: SessionDep,
    pages: PagesDep,
    versions_cursor: Cursor = None,
) -> Response:
    return await _detail_page(
        request, viewer, session, pages, reference, versions_cursor=versions_cursor
    )


@router.get(AGENTS_PATH + "/{reference}/versions/{version}")
async def version_page(
    request: Request,
    reference: AgentRef,
    version: VersionRef,
    viewer: ViewerDep,
    session: SessionDep,
    pages: PagesDep,
) -> Response:
    scope = scope_of(viewer)
    agent = await service.get(session, scope, reference)
    record = await service.get_version(session, scope, agent, version)
    context = page_context(
        request,
        viewer,
        title=f"{agent.name} {record.version}",
        agent=agent,
        record=record,
        published=when(record.created_at),
        summary=manifest_summary(record.manifest),
        manifest_json=pretty(record.manifest),
    )
    return pages.render("agent_version.html", context)


@router.post(AGENTS_PATH + "/{reference}/runs")
async def start_run(
    request: Request,
    reference: AgentRef,
    viewer: CheckedViewerDep,
    session: SessionDep,
    container: ContainerDep,
    pages: PagesDep,
    background: BackgroundTasks,
    input: LongText = "",
    version: Short = "",
) -> Response:
    scope = scope_of(viewer)
    scope.require("runs:write")
    agent = await service.get(session, scope, reference)
    value, problems = read_input(input)
    if value is None:
        return await _detail_page(
            request,
            viewer,
            session,
            pages,
            reference,
            status_code=422,
            run_input=input,
            run_version=version,
            run_problems=problems,
        )
    body = RunCreate(agent=agent.id, version=version or None, input=value)
    run = await attempt(session, creation.create_run(session, scope, container.run_gates, body))
    if isinstance(run, CorralError):
        refusal = run
        return await show_refusal(
            container,
            session,
            refusal,
            lambda fresh, code, _: _detail_page(
                request,
                viewer,
                fresh,
                pages,
                reference,
                status_code=code,
                run_input=input,
                run_version=version,
                run_problems=refusal_problems(refusal),
            ),
        )
    # After the response, so after the commit: a worker woken earlier would not see the run.
    background.add_task(container.run_signals.queued)
    return after_post(request, f"/runs/{run.id}")
