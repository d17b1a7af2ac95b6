"""Settings of the application the pages show (rename, describe, delete, create another) and
of its organization (rename, delete), through the identity services and their permissions."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from corral.api.deps import ContainerDep, SessionDep
from corral.core.errors import Conflict, CorralError
from corral.identity.schemas import ApplicationCreate, OrganizationUpdate
from corral.identity.services import applications, organizations
from corral.web.control import attempt, show_refusal, validation_message
from corral.web.errors import page_router
from corral.web.responses import PagesDep, after_post, page_context, secure_cookies
from corral.web.routes.switcher import remember_application
from corral.web.scopes import app_scope, org_scope
from corral.web.viewer import (
    APPLICATION_COOKIE,
    HOME_PATH,
    CheckedViewerDep,
    Viewer,
    ViewerDep,
)

router = page_router()

APPLICATION_PATH = "/settings/application"
ORGANIZATION_PATH = "/settings/organization"
Text = Annotated[str, Form(max_length=2000)]
ShownId = Annotated[str, Form(max_length=64)]


def _still_shown(shown: str, current: str, what: str) -> None:
    """A form names what it was shown for: after a switch in another tab the pages show
    something else, and a rename or delete must not land there."""
    if shown != current:
        raise Conflict(
            f"the pages show another {what} since this form was loaded; reload and try again",
            code="stale_form",
        )


async def _application_page(
    request: Request,
    viewer: Viewer,
    session: AsyncSession,
    pages: PagesDep,
    *,
    status_code: int = 200,
    error: str | None = None,
    typed: dict[str, str] | None = None,
    new_typed: dict[str, str] | None = None,
) -> Response:
    scope = app_scope(viewer)
    application = await applications.get(session, scope)
    context = page_context(
        request,
        viewer,
        title="Application settings",
        application=application,
        siblings=[a for a in viewer.applications if a.org_id == application.org_id],
        org_name=viewer.application.org_name if viewer.application else "",
        can_write=viewer.can("apps:write"),
        typed=typed or {"name": application.name, "description": application.description},
        new_typed=new_typed or {"name": "", "description": ""},
    )
    context["error"] = error
    return pages.render("settings_application.html", context, status_code=status_code)


@router.get(APPLICATION_PATH)
async def application_page(
    request: Request, viewer: ViewerDep, session: SessionDep, pages: PagesDep
) -> Response:
    return await _application_page(request, viewer, session, pages)


@router.post(APPLICATION_PATH)
async def update_application(
    request: Request,
    viewer: CheckedViewerDep,
    session: SessionDep,
    container: ContainerDep,
    pages: PagesDep,
    application_id: ShownId = "",
    name: Text = "",
    description: Text = "",
) -> Response:
    scope = app_scope(viewer)
    _still_shown(application_id, scope.application_id, "application")
    typed = {"name": name, "description": description}
    try:
        body = ApplicationCreate(name=name.strip(), description=description.strip())
    except ValidationError as exc:
        return await _application_page(
            request,
            viewer,
            session,
            pages,
            status_code=422,
            error=validation_message(exc),
            typed=typed,
        )
    updated = await attempt(
        session, applications.update(session, scope, name=body.name, description=body.description)
    )
    if isinstance(updated, CorralError):
        return await show_refusal(
            container,
            session,
            updated,
            lambda fresh, code, message: _application_page(
                request, viewer, fresh, pages, status_code=code, error=message, typed=typed
            ),
        )
    return after_post(request, APPLICATION_PATH)


@router.post(APPLICATION_PATH + "/delete")
async def delete_application(
    request: Request, viewer: CheckedViewerDep, session: SessionDep, application_id: ShownId = ""
) -> Response:
    scope = app_scope(viewer)
    _still_shown(application_id, scope.application_id, "application")
    await applications.delete(session, scope)
    response = after_post(request, APPLICATION_PATH)
    # The pages go back to the organization's default application.
    response.delete_cookie(APPLICATION_COOKIE, path="/")
    return response


@router.post("/settings/applications")
async def create_application(
    request: Request,
    viewer: CheckedViewerDep,
    session: SessionDep,
    container: ContainerDep,
    pages: PagesDep,
    name: Text = "",
    description: Text = "",
) -> Response:
    new_typed = {"name": name, "description": description}
    try:
        body = ApplicationCreate(name=name.strip(), description=description.strip())
    except ValidationError as exc:
        return await _application_page(
            request,
            viewer,
            session,
            pages,
            status_code=422,
            error=validation_message(exc),
            new_typed=new_typed,
        )
    scope = await org_scope(session, viewer)
    created = await attempt(
        session, applications.create(session, scope, name=body.name, description=body.description)
    )
    if isinstance(created, CorralError):
        return await show_refusal(
            container,
            session,
            created,
            lambda fresh, code, message: _application_page(
                request, viewer, fresh, pages, status_code=code, error=message, new_typed=new_typed
            ),
        )
    response = after_post(request, APPLICATION_PATH)
    remember_application(response, created.id, secure=secure_cookies(container))
    return response


async def _organization_page(
    request: Request,
    viewer: Viewer,
    session: AsyncSession,
    pages: PagesDep,
    *,
    status_code: int = 200,
    error: str | None = None,
    typed: str | None = None,
) -> Response:
    scope = await org_scope(session, viewer)
    organization = await organizations.get(session, scope)
    context = page_context(
        request,
        viewer,
        title="Organization settings",
        organization=organization,
        role=scope.role,
        applications=[a for a in viewer.applications if a.org_id == organization.id],
        can_rename="org:write" in scope.permissions,
        can_delete="org:delete" in scope.permissions,
        typed=organization.name if typed is None else typed,
    )
    context["error"] = error
    return pages.render("settings_organization.html", context, status_code=status_code)


@router.get(ORGANIZATION_PATH)
async def organization_page(
    request: Request, viewer: ViewerDep, session: SessionDep, pages: PagesDep
) -> Response:
    return await _organization_page(request, viewer, session, pages)


@router.post(ORGANIZATION_PATH)
async def rename_organization(
    request: Request,
    viewer: CheckedViewerDep,
    session: SessionDep,
    pages: PagesDep,
    organization_id: ShownId = "",
    name: Text = "",
) -> Response:
    scope = await org_scope(session, viewer)
    _still_shown(organization_id, scope.org_id, "organization")
    try:
        body = OrganizationUpdate(name=name.strip())
    except ValidationError as exc:
        return await _organization_page(
            request,
            viewer,
            session,
            pages,
            status_code=422,
            error=validation_message(exc),
            typed=name,
        )
    await organizations.rename(session, scope, body.name)
    return after_post(request, ORGANIZATION_PATH)


@router.post(ORGANIZATION_PATH + "/delete")
async def delete_organization(
    request: Request, viewer: CheckedViewerDep, session: SessionDep, organization_id: ShownId = ""
) -> Response:
    scope = await org_scope(session, viewer)
    _still_shown(organization_id, scope.org_id, "organization")
    await organizations.delete(session, scope)
    response = after_post(request, HOME_PATH)
    response.delete_cookie(APPLICATION_COOKIE, path="/")
    return response
