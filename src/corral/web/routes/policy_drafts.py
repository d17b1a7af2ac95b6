"""The editor's draft, unsaved: the live check of what is typed, and the simulation of it over
the application's most recent spans.

Both answer htmx with a fragment for the editor's live regions; without scripts, "Simulate"
posts the form and gets the editor back with the result on it. Neither stores anything.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import Form, Request
from starlette.responses import Response

from corral.api.deps import SessionDep
from corral.core.clock import utcnow
from corral.core.errors import InvalidInput
from corral.governance import policies, replay
from corral.governance.analysis_schemas import SimulationRequest
from corral.governance.models import PolicyRecord
from corral.governance.templates import get_template
from corral.web.errors import page_router
from corral.web.listing import application_scope
from corral.web.policy_form import read
from corral.web.responses import PagesDep, page_context
from corral.web.routes.policies import (
    DEFAULT_SPAN_COUNT,
    POLICIES_PATH,
    SPAN_COUNTS,
    Typed,
    render_editor,
    typed_form,
)
from corral.web.viewer import CheckedViewerDep

router = page_router()

# "The last N spans" are looked for in this window, newest first (one range scan on the
# spans' (application_id, start_time) index, stopped after N).
SIMULATION_WINDOW = timedelta(days=30)
SAMPLES = 10


def _is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


@router.post(POLICIES_PATH + "/validate")
async def validate_draft(
    viewer: CheckedViewerDep,
    pages: PagesDep,
    name: Typed = "",
    description: Typed = "",
    expression: Typed = "",
    action: Typed = "block",
    action_config: Typed = "{}",
    priority: Typed = "0",
    applies_to: Typed = "",
    enabled: Typed = "",
    shadow: Typed = "",
) -> Response:
    """The engine's verdict on the typed definition, for the editor's live region."""
    application_scope(viewer).require("policies:read")
    typed = typed_form(
        name, description, expression, action, action_config, priority, applies_to, enabled, shadow
    )
    draft = read(typed, placeholder_name=True)
    return pages.render("_policy_check.html", {"check": draft if expression else None})


@router.post(POLICIES_PATH + "/simulate")
async def simulate_draft(
    request: Request,
    viewer: CheckedViewerDep,
    session: SessionDep,
    pages: PagesDep,
    name: Typed = "",
    description: Typed = "",
    expression: Typed = "",
    action: Typed = "block",
    action_config: Typed = "{}",
    priority: Typed = "0",
    applies_to: Typed = "",
    enabled: Typed = "",
    shadow: Typed = "",
    spans: Annotated[int, Form()] = DEFAULT_SPAN_COUNT,
    policy_id: Annotated[str, Form(max_length=64)] = "",
    template_id: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """What the unsaved draft would have done to the application's last `spans` spans."""
    scope = application_scope(viewer)
    if spans not in SPAN_COUNTS:
        raise InvalidInput("spans is not one of the offered choices", code="invalid_filter")
    typed = typed_form(
        name, description, expression, action, action_config, priority, applies_to, enabled, shadow
    )
    draft = read(typed, placeholder_name=True)
    outcome = None
    if draft.valid and draft.fields is not None:
        until = utcnow()
        outcome = await replay.run(
            session,
            scope,
            SimulationRequest(
                policy=draft.fields,
                since=until - SIMULATION_WINDOW,
                until=until,
                limit=spans,
                sample_limit=SAMPLES,
            ),
        )
    if _is_htmx(request):
        context = page_context(request, viewer, simulation=outcome, check=draft, span_count=spans)
        return pages.render("_policy_simulation.html", context)
    record: PolicyRecord | None = (
        await policies.get(session, scope, policy_id) if policy_id else None
    )
    return render_editor(
        request,
        viewer,
        pages,
        read(typed),
        record=record,
        template=get_template(template_id) if template_id else None,
        simulation=outcome,
        span_count=spans,
        status_code=200 if outcome is not None else 422,
    )
