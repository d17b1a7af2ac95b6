"""The history of a policy: versions, diffs, restore."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from corral.api.deps import AppScopeDep, PageDep, SessionDep
from corral.api.openapi import ERRORS
from corral.api.routes.policies import (
    INVALID,
    PRECONDITION,
    IfMatch,
    PolicyId,
    etag,
    expected_version,
    read_policy,
)
from corral.core.pagination import Page
from corral.governance import versions
from corral.governance.models import PolicyVersion
from corral.governance.schemas import Author, PolicyDiff, PolicyRead, PolicyVersionRead

router = APIRouter(tags=["policies"], responses=ERRORS)

VersionNumber = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _read(version: PolicyVersion) -> PolicyVersionRead:
    return PolicyVersionRead.model_validate(
        {
            "policy_id": version.policy_id,
            "version": version.version,
            "change": version.change,
            "restored_from": version.restored_from,
            "author": Author(type=version.author_type, id=version.author_id),
            "created_at": version.created_at,
            "snapshot": version.snapshot,
        }
    )


@router.get("/api/policies/{policy_id}/versions", response_model=Page[PolicyVersionRead])
async def list_versions(
    policy_id: PolicyId, scope: AppScopeDep, session: SessionDep, page: PageDep
) -> Page[PolicyVersionRead]:
    """Every version of a policy, newest first; a deleted policy's history stays readable."""
    rows, cursor = await versions.list_page(
        session, scope, policy_id, cursor=page.cursor, limit=page.limit
    )
    return Page[PolicyVersionRead](data=[_read(v) for v in rows], next_cursor=cursor)


@router.get("/api/policies/{policy_id}/versions/{version}", response_model=PolicyVersionRead)
async def get_version(
    policy_id: PolicyId, version: VersionNumber, scope: AppScopeDep, session: SessionDep
) -> PolicyVersionRead:
    """One version: the policy's fields as they were after that change."""
    return _read(await versions.get(session, scope, policy_id, version))


@router.get("/api/policies/{policy_id}/diff", response_model=PolicyDiff)
async def diff_versions(
    policy_id: PolicyId,
    scope: AppScopeDep,
    session: SessionDep,
    from_version: Annotated[
        int | None, Query(alias="from", ge=1, le=2**31 - 1, description="Default: to - 1.")
    ] = None,
    to_version: Annotated[
        int | None, Query(alias="to", ge=1, le=2**31 - 1, description="Default: the latest.")
    ] = None,
) -> PolicyDiff:
    """The fields that differ between two versions, and a unified diff of the expression."""
    return await versions.diff(
        session, scope, policy_id, from_version=from_version, to_version=to_version
    )


@router.post(
    "/api/policies/{policy_id}/versions/{version}/restore",
    response_model=PolicyRead,
    responses={**INVALID, **PRECONDITION},
)
async def restore_version(
    policy_id: PolicyId,
    version: VersionNumber,
    scope: AppScopeDep,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> PolicyRead:
    """Make an old version current again, as a new version (recreates a deleted policy)."""
    record = await versions.restore(
        session, scope, policy_id, version, expected_version=expected_version(if_match)
    )
    response.headers["ETag"] = etag(record)
    return read_policy(record)
