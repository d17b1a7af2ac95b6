"""Halts (kill switch) of the current application, and the active set SDKs poll."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Path, Query, Request, status
from starlette.responses import Response

from corral.api.deps import AppScopeDep, ContainerDep, PageDep, SessionDep
from corral.api.openapi import ERRORS, problem_response
from corral.container import Container
from corral.core.pagination import Page
from corral.governance.halts import matching, service
from corral.governance.halts.models import Halt
from corral.governance.halts.schemas import ActiveHalt, ActiveHalts, HaltClear, HaltCreate, HaltRead

router = APIRouter(tags=["halts"], responses=ERRORS)

HaltId = Annotated[str, Path(max_length=64, description="The halt's id (`hlt_…`).")]
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: problem_response("The halt is already cleared, or the application has too many.")
}
_ACTIVE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": ActiveHalts, "description": "The active halts; `ETag` is their revision."},
    304: {"description": "Not modified: the active halts still have the revision sent."},
}


def read_halt(halt: Halt) -> HaltRead:
    return HaltRead.model_validate(
        {
            **{c: getattr(halt, c) for c in HaltRead.model_fields if c != "active"},
            "active": halt.cleared_at is None,
        }
    )


def _changed(container: Container, application_id: str) -> None:
    container.halt_cache.invalidate(application_id)
    container.run_signals.halts_changed()


@router.get("/api/halts", response_model=Page[HaltRead])
async def list_halts(
    scope: AppScopeDep,
    session: SessionDep,
    page: PageDep,
    include_cleared: Annotated[
        bool, Query(description="Also list cleared halts (active ones only by default).")
    ] = False,
) -> Page[HaltRead]:
    """The application's halts, newest first."""
    rows, cursor = await service.list_page(
        session, scope, include_cleared=include_cleared, cursor=page.cursor, limit=page.limit
    )
    return Page[HaltRead](data=[read_halt(r) for r in rows], next_cursor=cursor)


@router.post(
    "/api/halts", status_code=status.HTTP_201_CREATED, response_model=HaltRead, responses=_CONFLICT
)
async def create_halt(
    body: HaltCreate,
    scope: AppScopeDep,
    session: SessionDep,
    container: ContainerDep,
    background: BackgroundTasks,
) -> HaltRead:
    """Halt (or pause) the application, an agent, an end-user, a model or a run. New runs and
    calls in scope are refused at once; running hosted runs in scope of a `halted` halt stop
    within a second."""
    halt = await service.create(session, scope, body)
    # After the commit, so that what is woken reads the halt.
    background.add_task(_changed, container, scope.application_id)
    return read_halt(halt)


@router.get(
    "/api/halts/active",
    response_class=Response,
    responses=_ACTIVE_RESPONSES,
    summary="The active halts an SDK enforces",
)
async def active_halts(request: Request, scope: AppScopeDep, session: SessionDep) -> Response:
    """Poll with the ETag as If-None-Match: an unchanged set answers 304 with no body. Needs
    `halts:read` or `policies:read`."""
    halts = await service.active_for(session, scope)
    revision = matching.revision(halts)
    etag = f'"{revision}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    sent = request.headers.get("if-none-match")
    if sent is not None and etag in [tag.strip().removeprefix("W/") for tag in sent.split(",")]:
        return Response(status_code=304, headers=headers)
    document = ActiveHalts(
        revision=revision,
        halts=[
            ActiveHalt.model_validate(
                {
                    "id": h.id,
                    "scope": h.scope,
                    "scope_value": h.scope_value,
                    "end_user_external_id": h.end_user_external_id,
                    "state": h.state,
                    "reason": h.reason,
                }
            )
            for h in halts
        ],
    )
    return Response(
        document.model_dump_json().encode(), media_type="application/json", headers=headers
    )


@router.get("/api/halts/{halt_id}", response_model=HaltRead)
async def get_halt(halt_id: HaltId, scope: AppScopeDep, session: SessionDep) -> HaltRead:
    """One halt, active or cleared."""
    return read_halt(await service.get(session, scope, halt_id))


async def _clear(
    halt_id: str,
    body: HaltClear | None,
    scope: AppScopeDep,
    session: SessionDep,
    container: Container,
    background: BackgroundTasks,
) -> HaltRead:
    halt = await service.clear(session, scope, halt_id, body.reason if body else None)
    background.add_task(_changed, container, scope.application_id)
    return read_halt(halt)


@router.post("/api/halts/{halt_id}/clear", response_model=HaltRead, responses=_CONFLICT)
async def clear_halt(
    halt_id: HaltId,
    scope: AppScopeDep,
    session: SessionDep,
    container: ContainerDep,
    background: BackgroundTasks,
    body: HaltClear | None = None,
) -> HaltRead:
    """Clear the halt: what it refused is allowed again (a halted run stays ended)."""
    return await _clear(halt_id, body, scope, session, container, background)


@router.delete("/api/halts/{halt_id}", response_model=HaltRead, responses=_CONFLICT)
async def delete_halt(
    halt_id: HaltId,
    scope: AppScopeDep,
    session: SessionDep,
    container: ContainerDep,
    background: BackgroundTasks,
) -> HaltRead:
    """The same as `POST /api/halts/{id}/clear`; the halt stays listed as cleared."""
    return await _clear(halt_id, None, scope, session, container, background)
