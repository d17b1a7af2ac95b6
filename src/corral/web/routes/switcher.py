"""The header's application switcher: which application the pages show, kept in a cookie."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from starlette.responses import Response

from corral.api.deps import ContainerDep
from corral.core.errors import NotFound
from corral.web.errors import page_router
from corral.web.responses import after_post, secure_cookies
from corral.web.viewer import APPLICATION_COOKIE, HOME_PATH, CheckedViewerDep, safe_next

router = page_router()

SWITCH_PATH = "/switch-application"
# A preference, not a credential: it outlives sessions and is checked on every request.
_COOKIE_MAX_AGE = 365 * 24 * 3600


def remember_application(response: Response, application_id: str, *, secure: bool) -> None:
    """Pages show this application from now on (while the user may see it)."""
    response.set_cookie(
        APPLICATION_COOKIE,
        application_id,
        max_age=_COOKIE_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )


def landing_after_switch(path: str) -> str:
    """Where the switch sends the browser: the page it came from, minus anything that belonged
    to the previous application (an object's id, a list's cursor), i.e. its section."""
    target = safe_next(path).split("?", 1)[0]
    if target.startswith("/settings/"):
        return target
    section = target.strip("/").split("/", 1)[0]
    return f"/{section}" if section else HOME_PATH


@router.post(SWITCH_PATH)
async def switch_application(
    request: Request,
    viewer: CheckedViewerDep,
    container: ContainerDep,
    application_id: Annotated[str, Form(max_length=64)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    if not any(app.id == application_id for app in viewer.applications):
        raise NotFound("application", code="application_not_found")
    response = after_post(request, landing_after_switch(next))
    remember_application(response, application_id, secure=secure_cookies(container))
    return response
