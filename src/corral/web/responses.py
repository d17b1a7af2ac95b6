"""What every page route shares: the renderer, the page context, redirects and form cookies."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from corral.api.deps import CSRF_COOKIE
from corral.api.routes.auth import set_session_cookies
from corral.container import Container
from corral.identity.services.accounts import NewSession
from corral.web.templating import PAGE_HEADERS, Pages
from corral.web.viewer import Viewer, anonymous_csrf, safe_next

# (label, path, permission needed or None): pages appear here as they are built.
NAVIGATION: tuple[tuple[str, str, str | None], ...] = (
    ("Overview", "/", None),
    ("Agents", "/agents", "agents:read"),
    ("Runs", "/runs", "runs:read"),
    ("Schedules", "/schedules", "schedules:read"),
    ("Traces", "/traces", "traces:read"),
    ("Policies", "/policies", "policies:read"),
    ("Decisions", "/decisions", "policies:read"),
    ("Approvals", "/approvals", "approvals:read"),
    ("Halts", "/halts", "halts:read"),
    ("Budgets", "/budgets", "budgets:read"),
    ("Audit log", "/audit", "audit:read"),
    ("Webhooks", "/webhooks", "webhooks:read"),
    ("Connections", "/connections", "connections:read"),
    ("Model providers", "/providers", "providers:read"),
    ("API keys", "/api-keys", "api_keys:read"),
    ("Members", "/members", "members:read"),
    ("Settings", "/settings/application", "apps:read"),
)


def pages_of(request: Request) -> Pages:
    pages: Pages = request.app.state.pages
    return pages


PagesDep = Annotated[Pages, Depends(pages_of)]


def secure_cookies(container: Container) -> bool:
    return container.settings.public_url.startswith("https://")


def page_context(request: Request, viewer: Viewer | None, **extra: Any) -> dict[str, Any]:
    # A temporary password must be changed before anything else: no menu until then.
    shown = viewer if viewer is not None and not viewer.user.must_change_password else None
    navigation = [
        {"label": label, "href": href, "current": request.url.path == href}
        for label, href, permission in NAVIGATION
        if shown is not None and (permission is None or shown.can(permission))
    ]
    return {
        "viewer": viewer,
        "navigation": navigation,
        "current_path": request.url.path,
        "csrf_token": viewer.csrf_token if viewer else "",
        "error": None,
        **extra,
    }


def anonymous_page(
    pages: Pages,
    request: Request,
    container: Container,
    template: str,
    *,
    status_code: int = 200,
    **extra: Any,
) -> HTMLResponse:
    """A page shown before sign-in, whose forms carry the pre-session CSRF token."""
    token, new = anonymous_csrf(request)
    context = page_context(request, None, **extra)
    context["csrf_token"] = token
    response = pages.render(template, context, status_code=status_code)
    if new:
        response.set_cookie(
            CSRF_COOKIE,
            token,
            httponly=False,
            samesite="lax",
            secure=secure_cookies(container),
            path="/",
        )
    return response


def see_other(url: str) -> RedirectResponse:
    """After a form post: the browser follows with GET (no re-post on reload)."""
    return RedirectResponse(url, status_code=303, headers=dict(PAGE_HEADERS))


def after_post(request: Request, url: str) -> Response:
    """Where to go after a change: a 303 for a form, `HX-Redirect` for an htmx request (whose
    XMLHttpRequest would otherwise follow the 303 itself and swap the next page in)."""
    if request.headers.get("HX-Request") == "true":
        return Response(status_code=204, headers={**PAGE_HEADERS, "HX-Redirect": url})
    return see_other(url)


def signed_in_redirect(container: Container, new: NewSession, next_url: str | None) -> Response:
    response = see_other(safe_next(next_url))
    set_session_cookies(
        response,
        new,
        secure=secure_cookies(container),
        max_age=container.settings.auth.session_ttl_seconds,
    )
    return response
