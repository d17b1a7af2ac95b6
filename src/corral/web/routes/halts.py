"""Halts: the active kill switches (and the cleared ones on a tab), create with a scope, clear."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from fastapi import BackgroundTasks, Form, Path, Query, Request
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from corral.api.deps import ContainerDep, SessionDep
from corral.container import Container
from corral.core.errors import CorralError
from corral.governance.halts import service
from corral.governance.halts.models import Halt
from corral.governance.halts.schemas import HaltCreate, HaltScope, HaltState
from corral.web.control import (
    PAGE_SIZE,
    attempt,
    scope_of,
    show_refusal,
    validation_message,
    when,
)
from corral.web.errors import page_router
from corral.web.responses import PagesDep, after_post, page_context
from corral.web.viewer import CheckedViewerDep, Viewer, ViewerDep

router = page_router()

HALTS_PATH = "/halts"
Show = Literal["active", "all"]
HaltId = Annotated[str, Path(max_length=64)]
FormText = Annotated[str, Form(max_length=1024)]


def _row(halt: Halt) -> dict[str, Any]:
    return {
        "halt": halt,
        "created": when(halt.created_at),
        "cleared": when(halt.cleared_at),
        "scope_label": halt.scope.replace("_", " "),
        "value": halt.end_user_external_id or halt.scope_value,
    }


def _changed(container: Container, application_id: str) -> None:
    container.halt_cache.invalidate(application_id)
    container.run_signals.halts_changed()


async def _page(
    request: Request,
    viewer: Viewer,
    session: AsyncSession,
    pages: PagesDep,
    *,
    show: Show = "active",
    cursor: str | None = None,
    status_code: int = 200,
    error: str | None = None,
    typed: dict[str, str] | None = None,
) -> Response:
    rows, next_cursor = await service.list_page(
        session, scope_of(viewer), include_cleared=show == "all", cursor=cursor, limit=PAGE_SIZE
    )
    context = page_context(
        request,
        viewer,
        title="Halts",
        show=show,
        halts=[_row(h) for h in rows],
        next_cursor=next_cursor,
        scopes=get_args(HaltScope),
        states=get_args(HaltState),
        typed=typed or {"scope": "agent", "scope_value": "", "reason": "", "state": "halted"},
    )
    context["error"] = error
    return pages.render("halts.html", context, status_code=status_code)


@router.get(HALTS_PATH)
async def halts_page(
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    pages: PagesDep,
    show: Show = "active",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    return await _page(request, viewer, session, pages, show=show, cursor=cursor)


@router.post(HALTS_PATH)
async def create_halt(
    request: Request,
    viewer: CheckedViewerDep,
    session: SessionDep,
    container: ContainerDep,
    pages: PagesDep,
    background: BackgroundTasks,
    scope: Annotated[str, Form(max_length=32)] = "",
    scope_value: FormText = "",
    reason: FormText = "",
    state: Annotated[str, Form(max_length=32)] = "halted",
) -> Response:
    app_scope = scope_of(viewer)
    app_scope.require("halts:write")
    typed = {"scope": scope, "scope_value": scope_value, "reason": reason, "state": state}
    try:
        body = HaltCreate.model_validate(
            {
                "scope": scope,
                "scope_value": (scope_value.strip() or None) if scope != "application" else None,
                "reason": reason.strip(),
                "state": state,
            }
        )
    except ValidationError as exc:
        return await _page(
            request,
            viewer,
            session,
            pages,
            status_code=422,
            error=validation_message(exc),
            typed=typed,
        )
    created = await attempt(session, service.create(session, app_scope, body))
    if isinstance(created, CorralError):
        return await show_refusal(
            container,
            session,
            created,
            lambda fresh, code, message: _page(
                request, viewer, fresh, pages, status_code=code, error=message, typed=typed
            ),
        )
    # After the commit, so that what is woken reads the halt.
    background.add_task(_changed, container, app_scope.application_id)
    return after_post(request, HALTS_PATH)


@router.post(HALTS_PATH + "/{halt_id}/clear")
async def clear_halt(
    request: Request,
    halt_id: HaltId,
    viewer: CheckedViewerDep,
    session: SessionDep,
    container: ContainerDep,
    background: BackgroundTasks,
    reason: FormText = "",
) -> Response:
    app_scope = scope_of(viewer)
    await service.clear(session, app_scope, halt_id, reason.strip() or None)
    background.add_task(_changed, container, app_scope.application_id)
    return after_post(request, HALTS_PATH)
