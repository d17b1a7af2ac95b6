"""A policy's history: its versions, one version, the diff of two, and restoring one.

Versions outlive their policy, so a deleted policy's history is still shown here and a
restore brings it back under the same id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Path, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from corral.api.deps import SessionDep
from corral.governance import policies, versions
from corral.governance.history import FIELDS
from corral.governance.models import PolicyRecord
from corral.web.control import when
from corral.web.errors import page_router
from corral.web.listing import application_scope, compact_json
from corral.web.responses import PagesDep, after_post, page_context
from corral.web.routes.policies import POLICIES_PATH, PolicyId, policy_path
from corral.web.viewer import CheckedViewerDep, Viewer, ViewerDep

router = page_router()

PAGE_SIZE = 50
VersionNumber = Annotated[int, Path(ge=1, le=2**31 - 1)]
OptionalVersion = Annotated[int | None, Query(ge=1, le=2**31 - 1)]


@dataclass(frozen=True, slots=True)
class DiffLine:
    """One line of the unified diff: its kind for the eye (a class) and its +/- for the ear."""

    kind: str
    text: str


def diff_lines(unified: str) -> list[DiffLine]:
    lines = []
    for text in unified.splitlines():
        if text.startswith(("---", "+++")):
            kind = "file"
        elif text.startswith("@@"):
            kind = "hunk"
        elif text.startswith("+"):
            kind = "added"
        elif text.startswith("-"):
            kind = "removed"
        else:
            kind = "same"
        lines.append(DiffLine(kind, text))
    return lines


def shown(value: object) -> str:
    return value if isinstance(value, str) else compact_json(value)


async def _current(session: AsyncSession, viewer: Viewer, policy_id: str) -> PolicyRecord | None:
    return await policies.find(session, application_scope(viewer), policy_id)


@router.get(POLICIES_PATH + "/{policy_id}/versions")
async def versions_page(
    request: Request,
    policy_id: PolicyId,
    viewer: ViewerDep,
    session: SessionDep,
    pages: PagesDep,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    scope = application_scope(viewer)
    rows, next_cursor = await versions.list_page(
        session, scope, policy_id, cursor=cursor, limit=PAGE_SIZE
    )
    record = await _current(session, viewer, policy_id)
    path = f"{policy_path(policy_id)}/versions"
    return pages.render(
        "policy_versions.html",
        page_context(
            request,
            viewer,
            title="Policy versions",
            policy_id=policy_id,
            policy=record,
            name=rows[0].snapshot.get("name", policy_id) if rows else policy_id,
            versions=rows,
            when=when,
            paged=cursor is not None,
            first_url=path,
            next_url=f"{path}?cursor={next_cursor}" if next_cursor else None,
        ),
    )


@router.get(POLICIES_PATH + "/{policy_id}/versions/{number}")
async def version_page(
    request: Request,
    policy_id: PolicyId,
    number: VersionNumber,
    viewer: ViewerDep,
    session: SessionDep,
    pages: PagesDep,
) -> Response:
    version = await versions.get(session, application_scope(viewer), policy_id, number)
    record = await _current(session, viewer, policy_id)
    return pages.render(
        "policy_version.html",
        page_context(
            request,
            viewer,
            title=f"Policy version {number}",
            policy_id=policy_id,
            policy=record,
            version=version,
            fields=[(field, shown(version.snapshot.get(field))) for field in FIELDS],
            created=when(version.created_at),
        ),
    )


@router.get(POLICIES_PATH + "/{policy_id}/diff")
async def diff_page(
    request: Request,
    policy_id: PolicyId,
    viewer: ViewerDep,
    session: SessionDep,
    pages: PagesDep,
    from_version: Annotated[int | None, Query(alias="from", ge=1, le=2**31 - 1)] = None,
    to_version: Annotated[int | None, Query(alias="to", ge=1, le=2**31 - 1)] = None,
) -> Response:
    found = await versions.diff(
        session,
        application_scope(viewer),
        policy_id,
        from_version=from_version,
        to_version=to_version,
    )
    return pages.render(
        "policy_diff.html",
        page_context(
            request,
            viewer,
            title=f"Policy diff v{found.from_version} → v{found.to_version}",
            policy_id=policy_id,
            diff=found,
            changes=[(c.field, shown(c.before), shown(c.after)) for c in found.changes],
            lines=diff_lines(found.expression_diff),
        ),
    )


@router.post(POLICIES_PATH + "/{policy_id}/versions/{number}/restore")
async def restore_version(
    request: Request,
    policy_id: PolicyId,
    number: VersionNumber,
    viewer: CheckedViewerDep,
    session: SessionDep,
) -> Response:
    await versions.restore(
        session, application_scope(viewer), policy_id, number, expected_version=None
    )
    return after_post(request, f"{policy_path(policy_id)}/versions")
