"""The draft editor: the manifest (JSON) and the prompt, saved as the draft or published as a
version, and deleting an agent.

Two people editing one draft must not overwrite each other without knowing: the form carries
the draft's tag from when it was opened (`service.draft_tag`), and a save or publish whose tag
no longer matches is refused with what was typed kept.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from corral.agents import service
from corral.agents.models import Agent
from corral.api.deps import ContainerDep, SessionDep
from corral.core.errors import CorralError
from corral.web.agent_forms import PackageForm, Problem, pretty, read_package
from corral.web.control import attempt, scope_of, show_refusal
from corral.web.errors import page_router
from corral.web.responses import PagesDep, after_post, page_context
from corral.web.routes.agents import AGENTS_PATH, AgentRef, LongText, Short, agent_path
from corral.web.viewer import CheckedViewerDep, Viewer, ViewerDep

router = page_router()

PUBLISH = "publish"
Tag = Annotated[str, Form(max_length=64)]


async def _editor_page(
    request: Request,
    viewer: Viewer,
    session: AsyncSession,
    pages: PagesDep,
    reference: str,
    *,
    form: PackageForm | None = None,
    tag: str | None = None,
    status_code: int = 200,
    refusal: str | None = None,
) -> Response:
    agent = await service.get(session, scope_of(viewer), reference)
    context = page_context(
        request,
        viewer,
        title=f"Edit {agent.name}",
        agent=agent,
        form=form
        or PackageForm(manifest_text=pretty(agent.draft_manifest), prompt=agent.draft_prompt),
        tag=tag or service.draft_tag(agent),
        refusal=refusal,
    )
    return pages.render("agent_edit.html", context, status_code=status_code)


@router.get(AGENTS_PATH + "/{reference}/edit")
async def editor_page(
    request: Request, reference: AgentRef, viewer: ViewerDep, session: SessionDep, pages: PagesDep
) -> Response:
    return await _editor_page(request, viewer, session, pages, reference)


async def _save(
    session: AsyncSession, viewer: Viewer, agent: Agent, form: PackageForm, tag: str, intent: str
) -> Agent:
    scope = scope_of(viewer)
    service.require_draft_tag(agent, tag)
    assert form.manifest is not None
    await service.update_draft(session, scope, agent, form.manifest, form.prompt)
    if intent == PUBLISH:
        await service.publish_draft(session, scope, agent)
    return agent


@router.post(AGENTS_PATH + "/{reference}/edit")
async def save_draft(
    request: Request,
    reference: AgentRef,
    viewer: CheckedViewerDep,
    session: SessionDep,
    container: ContainerDep,
    pages: PagesDep,
    manifest: LongText = "",
    prompt: LongText = "",
    draft_tag: Tag = "",
    intent: Short = "save",
) -> Response:
    scope = scope_of(viewer)
    service.require_writer(scope)
    agent = await service.get(session, scope, reference, for_update=True)
    form = read_package(manifest, prompt)
    if not form.valid:
        return await _editor_page(
            request, viewer, session, pages, reference, form=form, tag=draft_tag, status_code=422
        )
    saved = await attempt(session, _save(session, viewer, agent, form, draft_tag, intent))
    if isinstance(saved, CorralError):
        if saved.code != "draft_changed":
            form.manifest_problems.append(Problem("", saved.detail))
        refused = saved.detail if saved.code == "draft_changed" else None
        return await show_refusal(
            container,
            session,
            saved,
            lambda fresh, code, _: _editor_page(
                request,
                viewer,
                fresh,
                pages,
                reference,
                form=form,
                tag=draft_tag,
                status_code=code,
                refusal=refused,
            ),
        )
    if intent == PUBLISH:
        return after_post(request, f"{agent_path(saved)}/versions/{saved.latest_version}")
    return after_post(request, agent_path(saved))


@router.post(AGENTS_PATH + "/{reference}/delete")
async def delete_agent(
    request: Request, reference: AgentRef, viewer: CheckedViewerDep, session: SessionDep
) -> Response:
    scope = scope_of(viewer)
    service.require_writer(scope)
    agent = await service.get(session, scope, reference, for_update=True)
    await service.delete(session, scope, agent)
    return after_post(request, AGENTS_PATH)
