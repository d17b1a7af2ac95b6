"""First run: an organization (for a user without one), the application's name, then
"Connect an agent" (a key with the scopes an agent needs, shown once with its setup).

Sign-up already makes an organization with a default application named "default"; onboarding
lets its owner name it (the rename is audited like any other). A user of no organization (made
by `corral admin`, or removed from theirs) creates one here, with its application named.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from corral.api.deps import ContainerDep, SessionDep
from corral.core.errors import CorralError
from corral.identity.schemas import ApplicationCreate, OrganizationCreate
from corral.identity.services import api_keys, applications, organizations
from corral.web.connect import (
    AGENT_NAME,
    AGENT_SCOPES,
    DEFAULT_AGENT,
    KEY_PLACEHOLDER,
    agent_setup,
    scope_rows,
)
from corral.web.control import attempt, show_refusal, validation_message
from corral.web.errors import page_router
from corral.web.responses import PagesDep, after_post, page_context, secure_cookies, see_other
from corral.web.routes.switcher import remember_application
from corral.web.scopes import app_scope
from corral.web.viewer import (
    ONBOARDING_PATH,
    CheckedViewerDep,
    Viewer,
    ViewerDep,
)

router = page_router()

CONNECT_PATH = "/connect"
Text = Annotated[str, Form(max_length=2000)]


async def _onboarding_page(
    request: Request,
    viewer: Viewer,
    session: AsyncSession,
    pages: PagesDep,
    *,
    status_code: int = 200,
    error: str | None = None,
    typed: dict[str, str] | None = None,
) -> Response:
    application = None
    needs_name = False
    if viewer.scope is not None:
        application = await applications.get(session, viewer.scope)
        siblings = [a for a in viewer.applications if a.org_id == application.org_id]
        needs_name = (
            application.is_default
            and application.name == organizations.DEFAULT_APPLICATION_NAME
            and len(siblings) == 1
        )
    context = page_context(
        request,
        viewer,
        title="Get started",
        organization=viewer.application.org_name if viewer.application else None,
        application=application,
        needs_name=needs_name,
        can_name=viewer.can("apps:write"),
        can_connect=viewer.can("api_keys:write"),
        typed=typed or {"organization_name": "", "name": "", "description": ""},
    )
    context["error"] = error
    return pages.render("onboarding.html", context, status_code=status_code)


@router.get(ONBOARDING_PATH)
async def onboarding_page(
    request: Request, viewer: ViewerDep, session: SessionDep, pages: PagesDep
) -> Response:
    return await _onboarding_page(request, viewer, session, pages)


@router.post(ONBOARDING_PATH + "/organization")
async def create_organization(
    request: Request,
    viewer: CheckedViewerDep,
    session: SessionDep,
    container: ContainerDep,
    pages: PagesDep,
    organization_name: Text = "",
    name: Text = "",
    description: Text = "",
) -> Response:
    typed = {"organization_name": organization_name, "name": name, "description": description}
    try:
        org_body = OrganizationCreate(name=organization_name.strip())
        app_body = ApplicationCreate(name=name.strip(), description=description.strip())
    except ValidationError as exc:
        return await _onboarding_page(
            request,
            viewer,
            session,
            pages,
            status_code=422,
            error=validation_message(exc),
            typed=typed,
        )
    _, application = await organizations.create_organization(
        session,
        viewer.user,
        name=org_body.name,
        actor=viewer.caller.actor,
        application_name=app_body.name,
        application_description=app_body.description,
    )
    response = after_post(request, CONNECT_PATH)
    remember_application(response, application.id, secure=secure_cookies(container))
    return response


@router.post(ONBOARDING_PATH + "/application")
async def name_application(
    request: Request,
    viewer: CheckedViewerDep,
    session: SessionDep,
    container: ContainerDep,
    pages: PagesDep,
    name: Text = "",
    description: Text = "",
) -> Response:
    typed = {"organization_name": "", "name": name, "description": description}
    scope = app_scope(viewer)
    try:
        body = ApplicationCreate(name=name.strip(), description=description.strip())
    except ValidationError as exc:
        return await _onboarding_page(
            request,
            viewer,
            session,
            pages,
            status_code=422,
            error=validation_message(exc),
            typed=typed,
        )
    renamed = await attempt(
        session, applications.update(session, scope, name=body.name, description=body.description)
    )
    if isinstance(renamed, CorralError):
        return await show_refusal(
            container,
            session,
            renamed,
            lambda fresh, code, message: _onboarding_page(
                request, viewer, fresh, pages, status_code=code, error=message, typed=typed
            ),
        )
    return after_post(request, CONNECT_PATH)


def _connect_page(
    request: Request,
    viewer: Viewer,
    pages: PagesDep,
    public_url: str,
    *,
    agent: str = DEFAULT_AGENT,
    token: str | None = None,
    key_name: str = "",
    status_code: int = 200,
    error: str | None = None,
) -> Response:
    scope = app_scope(viewer)
    context = page_context(
        request,
        viewer,
        title="Connect an agent",
        application=viewer.application,
        scopes=scope_rows(scope.permissions),
        can_create=viewer.can("api_keys:write"),
        agent=agent,
        token=token,
        key_name=key_name,
        setup=agent_setup(public_url, token or KEY_PLACEHOLDER, agent),
    )
    context["error"] = error
    return pages.render("connect.html", context, status_code=status_code)


@router.get(CONNECT_PATH)
async def connect_page(
    request: Request, viewer: ViewerDep, pages: PagesDep, container: ContainerDep
) -> Response:
    if viewer.scope is None:
        return see_other(ONBOARDING_PATH)
    return _connect_page(request, viewer, pages, container.settings.public_url)


@router.post(CONNECT_PATH)
async def create_agent_key(
    request: Request,
    viewer: CheckedViewerDep,
    session: SessionDep,
    pages: PagesDep,
    container: ContainerDep,
    agent: Annotated[str, Form(max_length=200)] = DEFAULT_AGENT,
) -> Response:
    scope = app_scope(viewer)
    public_url = container.settings.public_url
    agent = agent.strip()
    if not AGENT_NAME.fullmatch(agent):
        return _connect_page(
            request,
            viewer,
            pages,
            public_url,
            agent=agent,
            status_code=422,
            error="An agent name has letters, digits, '.', '_' and '-' (at most 64).",
        )
    # At most the viewer's own: a member's key gets what a member may do of these.
    granted = [s for s in AGENT_SCOPES if s in scope.permissions]
    key, token = await api_keys.create(
        session, scope, name=f"{agent} (agent)", scopes=granted, expires_at=None
    )
    # The only time the key is in a page: this response (sent with no-store, never kept).
    return _connect_page(
        request, viewer, pages, public_url, agent=agent, token=token, key_name=key.name
    )
