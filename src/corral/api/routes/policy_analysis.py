"""Policy templates, the conflict report, and simulation over stored spans."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from corral.api.deps import AppScopeDep, SessionDep
from corral.api.openapi import ERRORS
from corral.api.routes.policies import INVALID, etag, read_policy
from corral.governance import analysis, replay
from corral.governance.analysis_schemas import (
    ConflictRead,
    ConflictReport,
    FromTemplate,
    OwaspRisk,
    SimulatedDecision,
    SimulatedSpan,
    SimulationErrorRead,
    SimulationRead,
    SimulationRequest,
    SimulationSampleRead,
    TemplateRead,
)
from corral.governance.schemas import PolicyRead
from corral.governance.simulate import SimulatedCall
from corral.governance.templates import OWASP_AGENTIC_TOP10, PolicyTemplate

router = APIRouter(tags=["policies"], responses=ERRORS)


def _template(template: PolicyTemplate) -> TemplateRead:
    return TemplateRead.model_validate(
        {
            "id": template.id,
            "category": template.category,
            "owasp": [
                OwaspRisk(id=risk, title=OWASP_AGENTIC_TOP10[risk]) for risk in template.owasp
            ],
            **analysis.template_fields(template),
        }
    )


@router.get("/api/policies/templates", response_model=list[TemplateRead])
async def list_templates(
    scope: AppScopeDep,
    owasp: Annotated[str | None, Query(max_length=16, description="e.g. ASI02")] = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
) -> list[TemplateRead]:
    """Vetted starting points, each mapped to the OWASP Top 10 for agentic applications."""
    return [_template(t) for t in analysis.list_templates(scope, owasp=owasp, category=category)]


@router.post(
    "/api/policies/from-template/{template_id}",
    status_code=status.HTTP_201_CREATED,
    response_model=PolicyRead,
    responses=INVALID,
)
async def create_from_template(
    template_id: Annotated[str, Path(max_length=100)],
    scope: AppScopeDep,
    session: SessionDep,
    response: Response,
    body: FromTemplate | None = None,
) -> PolicyRead:
    """A new policy from a template; any field in the body replaces the template's."""
    overrides = body.model_dump(exclude_unset=True) if body is not None else {}
    record = await analysis.create_from_template(session, scope, template_id, overrides)
    response.headers["ETag"] = etag(record)
    return read_policy(record)


@router.get("/api/policies/conflicts", response_model=ConflictReport)
async def conflicts(scope: AppScopeDep, session: SessionDep) -> ConflictReport:
    """Enabled policies that can never act, contradict or shadow each other, or are invalid."""
    report = await analysis.conflict_report(session, scope)
    return ConflictReport(
        policies=report.analyzed,
        conflicts=[
            ConflictRead(
                kind=c.kind.value,
                severity=c.severity.value,
                policy_ids=list(c.policy_ids),
                policy_names=[report.names.get(i) for i in c.policy_ids],
                message=c.message,
            )
            for c in report.conflicts
        ],
    )


def _span(call: SimulatedCall) -> SimulatedSpan:
    return SimulatedSpan(
        trace_id=call.trace_id,
        span_id=call.span_id,
        call_name=call.call_name,
        start_time=call.start_time,
        agent=call.agent,
        end_user=call.end_user,
        attributes=dict(call.attributes),
    )


@router.post("/api/policies/simulate", response_model=SimulationRead, responses=INVALID)
async def simulate(
    body: SimulationRequest, scope: AppScopeDep, session: SessionDep
) -> SimulationRead:
    """Replay the application's recent spans through a draft or stored policies: match rate,
    actions, and samples. Nothing is stored or enforced."""
    outcome = await replay.run(session, scope, body)
    result = outcome.result
    return SimulationRead(
        since=outcome.since,
        until=outcome.until,
        total=result.total,
        matched=result.matched,
        errored=result.errored,
        match_rate=result.match_rate,
        truncated=result.truncated,
        by_action=dict(result.by_action),
        by_policy=dict(result.by_policy),
        samples=[
            SimulationSampleRead(
                span=_span(sample.call),
                decision=SimulatedDecision.model_validate(sample.decision, from_attributes=True),
            )
            for sample in result.samples
        ],
        error_samples=[
            SimulationErrorRead(span=_span(e.call), policy_id=e.policy_id, reason=e.reason)
            for e in result.error_samples
        ],
        problems=[
            {
                "policy_id": p.policy_id,
                "field": p.field,
                "message": p.message,
                "line": p.line,
                "column": p.column,
            }
            for p in result.problems
        ],
    )
