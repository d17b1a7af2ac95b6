"""Puts the dashboard on the API's app: static assets, page routes, page-shaped errors."""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.responses import Response

from corral.web.responses import page_context, pages_of, see_other
from corral.web.routes import accounts, email_links, overview
from corral.web.static import StaticAssets, load_assets, static_router
from corral.web.templating import Pages, build_environment
from corral.web.viewer import CsrfRefused, PasswordChangeRequired, SignInRequired, sign_in_url


async def _sign_in_required(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    return see_other(sign_in_url(exc.next_url))


async def _csrf_refused(request: Request, _exc: Exception) -> Response:
    return pages_of(request).render(
        "message.html",
        page_context(
            request,
            None,
            title="Form refused",
            message="This form was not sent from a Corral page (its security token is missing "
            "or wrong). Reload the page and try again.",
        ),
        status_code=403,
    )


async def _password_change_required(request: Request, _exc: Exception) -> Response:
    return pages_of(request).render(
        "message.html",
        page_context(
            request,
            None,
            title="Change your password first",
            message="You signed in with a temporary password. Change it (POST "
            "/api/auth/password) before using the dashboard.",
        ),
        status_code=403,
    )


def install(app: FastAPI) -> None:
    assets = StaticAssets(load_assets())
    app.state.pages = Pages(build_environment(assets))
    app.add_exception_handler(SignInRequired, _sign_in_required)
    app.add_exception_handler(CsrfRefused, _csrf_refused)
    app.add_exception_handler(PasswordChangeRequired, _password_change_required)
    app.include_router(static_router(assets))
    for module in (accounts, overview, email_links):
        app.include_router(module.router)
