"""Policies: the list with match counts, the editor (new and edit), enable/disable, delete.

The editor's live check and its simulation are in `policy_drafts.py`, the templates gallery in
`policy_templates.py`, the history in `policy_versions.py`.
"""

from __future__ import annotations

from typing import Annotated, Any, get_args

from fastapi import Form, Path, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from corral.api.deps import ContainerDep, SessionDep
from corral.core.clock import utcnow
from corral.core.errors import CorralError
from corral.governance import analysis, policies
from corral.governance.models import PolicyRecord
from corral.governance.replay import Replay
from corral.governance.schemas import ActionName
from corral.governance.templates import PolicyTemplate, get_template
from corral.web.control import attempt, show_refusal, when
from corral.web.errors import page_router
from corral.web.listing import application_scope, choice, next_page_url
from corral.web.policy_form import Draft, blank, read, typed_from_record, typed_from_template
from corral.web.policy_matches import match_counts
from corral.web.responses import PagesDep, after_post, page_context
from corral.web.viewer import CheckedViewerDep, Viewer, ViewerDep

router = page_router()

POLICIES_PATH = "/policies"
PAGE_SIZE = 50
ACTIONS: tuple[str, ...] = get_args(ActionName)
STATES = {"on": True, "off": False}
SPAN_COUNTS = (100, 1000, 10_000)
DEFAULT_SPAN_COUNT = 1000
PolicyId = Annotated[str, Path(max_length=64)]
Filter = Annotated[str, Query(max_length=200)]
Cursor = Annotated[str | None, Query(max_length=200)]
Typed = Annotated[str, Form(max_length=20_000)]


def typed_form(
    name: str,
    description: str,
    expression: str,
    action: str,
    action_config: str,
    priority: str,
    applies_to: str,
    enabled: str,
    shadow: str,
) -> dict[str, str]:
    return {
        "name": name,
        "description": description,
        "expression": expression,
        "action": action,
        "action_config": action_config,
        "priority": priority,
        "applies_to": applies_to,
        "enabled": enabled,
        "shadow": shadow,
    }


def policy_path(policy_id: str) -> str:
    return f"{POLICIES_PATH}/{policy_id}"


@router.get(POLICIES_PATH)
async def policies_page(
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    pages: PagesDep,
    action: Filter = "",
    state: Filter = "",
    q: Filter = "",
    cursor: Cursor = None,
) -> Response:
    scope = application_scope(viewer)
    chosen_action = choice("action", action, ACTIONS)
    chosen_state = choice("state", state, STATES)
    rows, next_cursor = await policies.list_page(
        session,
        scope,
        enabled=STATES[chosen_state] if chosen_state else None,
        action=chosen_action,
        shadow=None,
        q=q.strip() or None,
        cursor=cursor,
        limit=PAGE_SIZE,
    )
    counts = await match_counts(session, scope, [row.id for row in rows], utcnow())
    filters = {"action": action, "state": state, "q": q}
    return pages.render(
        "policies.html",
        page_context(
            request,
            viewer,
            title="Policies",
            policies=rows,
            counts=counts,
            filters=filters,
            actions=ACTIONS,
            paged=cursor is not None,
            first_url=POLICIES_PATH,
            next_url=next_page_url(POLICIES_PATH, filters, next_cursor),
        ),
    )


def render_editor(
    request: Request,
    viewer: Viewer,
    pages: PagesDep,
    draft: Draft,
    *,
    record: PolicyRecord | None = None,
    template: PolicyTemplate | None = None,
    simulation: Replay | None = None,
    span_count: int = DEFAULT_SPAN_COUNT,
    status_code: int = 200,
    error: str | None = None,
) -> Response:
    """The editor: a new policy (perhaps from a template) or a stored one, as typed."""
    title = f"Policy {record.name}" if record is not None else "New policy"
    context = page_context(
        request,
        viewer,
        title=title,
        policy=record,
        template=template,
        typed=draft.typed,
        check=draft if draft.typed["expression"] else None,
        simulation=simulation,
        span_counts=SPAN_COUNTS,
        span_count=span_count,
        actions=ACTIONS,
        updated=when(record.updated_at) if record is not None else "",
        action_url=policy_path(record.id) if record is not None else POLICIES_PATH,
    )
    context["error"] = error
    return pages.render("policy.html", context, status_code=status_code)


def _problem_text(draft: Draft) -> str:
    return "; ".join(f"{p.where}: {p.message}" for p in draft.problems)


@router.get(POLICIES_PATH + "/new")
async def new_policy_page(
    request: Request,
    viewer: ViewerDep,
    pages: PagesDep,
    template: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    application_scope(viewer).require("policies:write")
    chosen = get_template(template) if template else None
    typed = typed_from_template(chosen) if chosen is not None else blank()
    return render_editor(request, viewer, pages, read(typed), template=chosen)


@router.post(POLICIES_PATH)
async def create_policy(
    request: Request,
    viewer: CheckedViewerDep,
    session: SessionDep,
    container: ContainerDep,
    pages: PagesDep,
    name: Typed = "",
    description: Typed = "",
    expression: Typed = "",
    action: Typed = "block",
    action_config: Typed = "{}",
    priority: Typed = "0",
    applies_to: Typed = "",
    enabled: Typed = "",
    shadow: Typed = "",
    template_id: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    scope = application_scope(viewer)
    scope.require("policies:write")
    template = get_template(template_id) if template_id else None
    typed = typed_form(
        name, description, expression, action, action_config, priority, applies_to, enabled, shadow
    )
    draft = read(typed)
    if not draft.valid or draft.fields is None:
        return render_editor(
            request,
            viewer,
            pages,
            draft,
            template=template,
            status_code=422,
            error=_problem_text(draft),
        )
    fields = draft.fields
    creating = (
        analysis.create_from_template(session, scope, template.id, fields.model_dump())
        if template is not None
        else policies.create(session, scope, fields)
    )
    created = await attempt(session, creating)
    if isinstance(created, CorralError):

        async def again(_fresh: AsyncSession, code: int, message: str) -> Response:
            return render_editor(
                request, viewer, pages, draft, template=template, status_code=code, error=message
            )

        return await show_refusal(container, session, created, again)
    return after_post(request, policy_path(created.id))


@router.get(POLICIES_PATH + "/{policy_id}")
async def policy_page(
    request: Request, policy_id: PolicyId, viewer: ViewerDep, session: SessionDep, pages: PagesDep
) -> Response:
    record = await policies.get(session, application_scope(viewer), policy_id)
    return render_editor(request, viewer, pages, read(typed_from_record(record)), record=record)


async def _stored(session: AsyncSession, viewer: Viewer, policy_id: str) -> PolicyRecord:
    return await policies.get(session, application_scope(viewer), policy_id)


@router.post(POLICIES_PATH + "/{policy_id}")
async def update_policy(
    request: Request,
    policy_id: PolicyId,
    viewer: CheckedViewerDep,
    session: SessionDep,
    container: ContainerDep,
    pages: PagesDep,
    name: Typed = "",
    description: Typed = "",
    expression: Typed = "",
    action: Typed = "block",
    action_config: Typed = "{}",
    priority: Typed = "0",
    applies_to: Typed = "",
    enabled: Typed = "",
    shadow: Typed = "",
    expected_version: Annotated[int | None, Form(ge=1, le=2**31 - 1)] = None,
) -> Response:
    scope = application_scope(viewer)
    scope.require("policies:write")
    record = await _stored(session, viewer, policy_id)
    typed = typed_form(
        name, description, expression, action, action_config, priority, applies_to, enabled, shadow
    )
    draft = read(typed)
    if not draft.valid or draft.fields is None:
        return render_editor(
            request,
            viewer,
            pages,
            draft,
            record=record,
            status_code=422,
            error=_problem_text(draft),
        )
    changes: dict[str, Any] = draft.fields.model_dump()
    updated = await attempt(
        session,
        policies.update(session, scope, policy_id, changes, expected_version=expected_version),
    )
    if isinstance(updated, CorralError):

        async def again(fresh: AsyncSession, code: int, message: str) -> Response:
            current = await _stored(fresh, viewer, policy_id)
            return render_editor(
                request, viewer, pages, draft, record=current, status_code=code, error=message
            )

        return await show_refusal(container, session, updated, again)
    return after_post(request, policy_path(policy_id))


@router.post(POLICIES_PATH + "/{policy_id}/enabled")
async def switch_policy(
    request: Request,
    policy_id: PolicyId,
    viewer: CheckedViewerDep,
    session: SessionDep,
    enabled: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Enable or disable; never checked by the engine, so a broken policy can be switched off."""
    scope = application_scope(viewer)
    await policies.update(
        session, scope, policy_id, {"enabled": enabled == "on"}, expected_version=None
    )
    return after_post(request, policy_path(policy_id))


@router.post(POLICIES_PATH + "/{policy_id}/delete")
async def delete_policy(
    request: Request, policy_id: PolicyId, viewer: CheckedViewerDep, session: SessionDep
) -> Response:
    await policies.delete(session, application_scope(viewer), policy_id, expected_version=None)
    return after_post(request, POLICIES_PATH)
