"""The Overview: what is happening in the viewer's application today."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from corral.api.deps import SessionDep
from corral.core.clock import utcnow
from corral.web import overview
from corral.web.errors import page_router
from corral.web.responses import PagesDep, page_context
from corral.web.viewer import HOME_PATH, ViewerDep

router = page_router()


@router.get(HOME_PATH)
async def overview_page(
    request: Request, viewer: ViewerDep, session: SessionDep, pages: PagesDep
) -> Response:
    numbers = await overview.overview(session, viewer.scope, utcnow()) if viewer.scope else None
    return pages.render(
        "overview.html", page_context(request, viewer, title="Overview", numbers=numbers)
    )
