"""The Jinja2 environment and the one function pages render through."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse

from corral.web.static import StaticAssets

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"

# Scripts and styles come only from /static (no inline code), so an injected tag cannot run.
# htmx is configured through a <meta> tag to add no inline styles and never evaluate strings.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
PAGE_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # Token links (/password-reset?token=…) must not leak through Referer to other sites.
    "Referrer-Policy": "no-referrer",
    # Pages show account data: never kept by a shared cache or the back-forward cache.
    "Cache-Control": "no-store",
}


def build_environment(assets: StaticAssets) -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(enabled_extensions=("html",), default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    environment.globals["static_url"] = assets.url
    return environment


class Pages:
    """Renders templates into responses with the dashboard's security headers."""

    def __init__(self, environment: Environment) -> None:
        self.environment = environment

    def render(
        self, template: str, context: Mapping[str, Any], *, status_code: int = 200
    ) -> HTMLResponse:
        html = self.environment.get_template(template).render(**context)
        return HTMLResponse(html, status_code=status_code, headers=dict(PAGE_HEADERS))
