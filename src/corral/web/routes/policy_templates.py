"""The policy templates gallery, and the conflict report of the enabled policies.

"Use this template" opens the editor filled with the template (`/policies/new?template=…`);
nothing is stored until the editor's "Create policy", which creates it through the templates
service, so its audit event names the template.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from starlette.responses import Response

from corral.api.deps import SessionDep
from corral.governance import analysis
from corral.governance.templates import OWASP_AGENTIC_TOP10, TEMPLATES
from corral.web.errors import page_router
from corral.web.listing import application_scope, choice
from corral.web.responses import PagesDep, page_context
from corral.web.routes.policies import POLICIES_PATH
from corral.web.viewer import ViewerDep

router = page_router()

CATEGORIES = tuple(dict.fromkeys(template.category for template in TEMPLATES))


@router.get(POLICIES_PATH + "/templates")
async def templates_page(
    request: Request,
    viewer: ViewerDep,
    pages: PagesDep,
    category: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    scope = application_scope(viewer)
    chosen = choice("category", category, CATEGORIES)
    return pages.render(
        "policy_templates.html",
        page_context(
            request,
            viewer,
            title="Policy templates",
            templates=analysis.list_templates(scope, owasp=None, category=chosen),
            categories=CATEGORIES,
            category=category,
            owasp_titles=OWASP_AGENTIC_TOP10,
        ),
    )


@router.get(POLICIES_PATH + "/conflicts")
async def conflicts_page(
    request: Request, viewer: ViewerDep, session: SessionDep, pages: PagesDep
) -> Response:
    report = await analysis.conflict_report(session, application_scope(viewer))
    return pages.render(
        "policy_conflicts.html",
        page_context(request, viewer, title="Policy conflicts", report=report),
    )
