"""Errors on pages become pages: a redirect to sign in, or an HTML page with the status.

The API's handlers answer problem+json; page routes use `PageRoute`, which catches first, so a
browser never lands on JSON from a dashboard URL.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.responses import Response

from corral.api.errors import status_of
from corral.core.errors import CorralError
from corral.web.responses import page_context, pages_of, see_other
from corral.web.viewer import (
    ACCOUNT_PATH,
    CsrfRefused,
    PasswordChangeRequired,
    SignInRequired,
    sign_in_url,
)

_FORM_REFUSED = (
    "This form was not sent from a Corral page (its security token is missing or wrong). "
    "Reload the page and try again."
)


def error_page(request: Request, status_code: int, title: str, message: str) -> Response:
    context = page_context(request, None, title=title, message=message)
    return pages_of(request).render("message.html", context, status_code=status_code)


def page_for(request: Request, exc: Exception) -> Response:
    if isinstance(exc, SignInRequired):
        return see_other(sign_in_url(exc.next_url))
    if isinstance(exc, CsrfRefused):
        return error_page(request, 403, "Form refused", _FORM_REFUSED)
    if isinstance(exc, PasswordChangeRequired):
        # The account page is the one page such a user may open: it asks for a new password.
        return see_other(ACCOUNT_PATH)
    if isinstance(exc, RequestValidationError):
        return error_page(request, 400, "Bad request", "This address has an invalid parameter.")
    assert isinstance(exc, CorralError)
    return error_page(request, status_of(exc), exc.title, exc.detail)


_PAGE_ERRORS = (SignInRequired, CsrfRefused, PasswordChangeRequired, RequestValidationError)


class PageRoute(APIRoute):
    """A dashboard route: its own and its dependencies' errors are answered as pages."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except (*_PAGE_ERRORS, CorralError) as exc:
                return page_for(request, exc)

        return page_handler


def page_router() -> APIRouter:
    """The router every page module uses."""
    return APIRouter(include_in_schema=False, route_class=PageRoute)
