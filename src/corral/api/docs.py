"""The API docs UI at /api/docs, served from local assets so air-gapped installs work."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

_ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
ASSETS_PREFIX = "/api/docs/assets"


def install(app: FastAPI) -> None:
    app.mount(ASSETS_PREFIX, StaticFiles(directory=_ASSETS), name="docs-assets")

    @app.get("/api/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/api/openapi.json",
            title="Corral API",
            swagger_js_url=f"{ASSETS_PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PREFIX}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PREFIX}/favicon.png",
        )
