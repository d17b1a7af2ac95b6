"""Policies of the current application: CRUD, batch changes and the default posture.

Fixed paths (`/settings`, `/batch`, and the routers registered before this one) come before
`/api/policies/{policy_id}`, which would otherwise match them.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Response, status

from corral.api.deps import AppScopeDep, PageDep, SessionDep
from corral.api.openapi import ERRORS, problem_response
from corral.core.errors import PreconditionFailed
from corral.core.pagination import Page
from corral.governance import governance_settings, policies
from corral.governance.models import PolicyRecord
from corral.governance.schemas import (
    ActionName,
    BatchRequest,
    BatchResult,
    GovernanceSettingsRead,
    GovernanceSettingsUpdate,
    PolicyFields,
    PolicyRead,
    PolicyUpdate,
)

router = APIRouter(tags=["policies"], responses=ERRORS)

PolicyId = Annotated[str, Path(max_length=64)]
IfMatch = Annotated[
    str | None,
    Header(
        max_length=200,
        description='The policy version the change is based on (the ETag, e.g. `"3"`); '
        "412 when the policy has changed since.",
    ),
]
PRECONDITION: dict[int | str, dict[str, Any]] = {
    412: problem_response("The policy changed since the version in If-Match.")
}
INVALID: dict[int | str, dict[str, Any]] = {
    400: problem_response("The policy does not compile; `problems` says where.")
}


def read_policy(record: PolicyRecord) -> PolicyRead:
    return PolicyRead.model_validate(record, from_attributes=True)


def etag(record: PolicyRecord) -> str:
    return f'"{record.version}"'


def expected_version(if_match: str | None) -> int | None:
    """The version an If-Match names; None for no condition (absent or `*`)."""
    if if_match is None or if_match.strip() == "*":
        return None
    tag = if_match.split(",", 1)[0].strip().removeprefix("W/").strip('"')
    if not tag.isdigit() or len(tag) > 10:
        raise PreconditionFailed(
            'If-Match must be the policy\'s ETag, such as "3"', code="version_mismatch"
        )
    return int(tag)


@router.get("/api/policies/settings", response_model=GovernanceSettingsRead)
async def get_settings(scope: AppScopeDep, session: SessionDep) -> GovernanceSettingsRead:
    """The application's default posture: what happens to a call no policy decides."""
    posture = await governance_settings.get_posture(session, scope)
    return GovernanceSettingsRead.model_validate({"default_posture": posture})


@router.put("/api/policies/settings", response_model=GovernanceSettingsRead)
async def put_settings(
    body: GovernanceSettingsUpdate, scope: AppScopeDep, session: SessionDep
) -> GovernanceSettingsRead:
    """Set the default posture: `allow`, or `deny` for allow-list mode."""
    await governance_settings.set_posture(session, scope, body.default_posture)
    return GovernanceSettingsRead(default_posture=body.default_posture)


@router.post("/api/policies/batch", response_model=BatchResult)
async def batch(body: BatchRequest, scope: AppScopeDep, session: SessionDep) -> BatchResult:
    """Enable, disable or delete up to 100 policies at once; any unknown id refuses them all."""
    changed = await policies.batch(session, scope, body.operation, body.ids)
    return BatchResult(operation=body.operation, ids=changed)


@router.get("/api/policies", response_model=Page[PolicyRead])
async def list_policies(
    scope: AppScopeDep,
    session: SessionDep,
    page: PageDep,
    enabled: bool | None = None,
    action: ActionName | None = None,
    shadow: bool | None = None,
    q: Annotated[str | None, Query(max_length=200, description="Part of the name.")] = None,
) -> Page[PolicyRead]:
    """The application's policies, newest first."""
    rows, cursor = await policies.list_page(
        session,
        scope,
        enabled=enabled,
        action=action,
        shadow=shadow,
        q=q,
        cursor=page.cursor,
        limit=page.limit,
    )
    return Page[PolicyRead](data=[read_policy(r) for r in rows], next_cursor=cursor)


@router.post(
    "/api/policies",
    status_code=status.HTTP_201_CREATED,
    response_model=PolicyRead,
    responses=INVALID,
)
async def create_policy(
    body: PolicyFields, scope: AppScopeDep, session: SessionDep, response: Response
) -> PolicyRead:
    """A new policy, checked by the policy engine; its version 1."""
    record = await policies.create(session, scope, body)
    response.headers["ETag"] = etag(record)
    return read_policy(record)


@router.get("/api/policies/{policy_id}", response_model=PolicyRead)
async def get_policy(
    policy_id: PolicyId, scope: AppScopeDep, session: SessionDep, response: Response
) -> PolicyRead:
    """One policy; its ETag is its version, for If-Match."""
    record = await policies.get(session, scope, policy_id)
    response.headers["ETag"] = etag(record)
    return read_policy(record)


@router.patch(
    "/api/policies/{policy_id}",
    response_model=PolicyRead,
    responses={**INVALID, **PRECONDITION},
)
async def update_policy(
    policy_id: PolicyId,
    body: PolicyUpdate,
    scope: AppScopeDep,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> PolicyRead:
    """Change some fields; a change stores a new version."""
    record = await policies.update(
        session,
        scope,
        policy_id,
        body.model_dump(exclude_unset=True),
        expected_version=expected_version(if_match),
    )
    response.headers["ETag"] = etag(record)
    return read_policy(record)


@router.delete(
    "/api/policies/{policy_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=PRECONDITION,
)
async def delete_policy(
    policy_id: PolicyId, scope: AppScopeDep, session: SessionDep, if_match: IfMatch = None
) -> None:
    """Delete a policy; its versions stay readable and a restore brings it back."""
    await policies.delete(session, scope, policy_id, expected_version=expected_version(if_match))
