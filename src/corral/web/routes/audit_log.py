"""The audit log: filtered events with their details, and chain verification."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Query, Request
from starlette.responses import Response

from corral.api.deps import ContainerDep, SessionDep
from corral.audit import queries
from corral.audit.schemas import AuditEventFilters, ChainChoice
from corral.core.errors import InvalidInput
from corral.web.errors import page_router
from corral.web.responses import PagesDep, page_context
from corral.web.scopes import app_scope
from corral.web.viewer import ViewerDep

router = page_router()

AUDIT_PATH = "/audit"
PAGE_SIZE = 50
Text = Annotated[str, Query(max_length=200)]
_FILTER_NAMES = ("actor_type", "actor_id", "action", "target_type", "target_id", "outcome")


def _moment(raw: str, name: str) -> datetime | None:
    """A `datetime-local` field's value (read as UTC) or a full ISO 8601 time."""
    if not raw.strip():
        return None
    try:
        parsed = datetime.fromisoformat(raw.strip())
    except ValueError as exc:
        raise InvalidInput(f"{name} is not a date and time", code="invalid_time") from exc
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _shown(event: dict[str, Any]) -> dict[str, Any]:
    """What the template shows of an event; before/after were redacted when recorded."""
    sections = [
        (label, event[name])
        for label, name in (("Details", "details"), ("Before", "before"), ("After", "after"))
        if event.get(name)
    ]
    return {**event, "sections": sections}


@router.get(AUDIT_PATH)
async def audit_page(
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    pages: PagesDep,
    actor_type: Text = "",
    actor_id: Text = "",
    action: Text = "",
    target_type: Text = "",
    target_id: Text = "",
    outcome: Text = "",
    since: Text = "",
    until: Text = "",
    chain: ChainChoice = "application",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    scope = app_scope(viewer)
    chain_id = queries.readable_chain(scope, chain)
    typed = {
        "actor_type": actor_type,
        "actor_id": actor_id,
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "outcome": outcome,
        "since": since,
        "until": until,
        "chain": chain,
    }
    filters = AuditEventFilters(
        **{name: typed[name].strip() or None for name in _FILTER_NAMES},
        since=_moment(since, "from"),
        until=_moment(until, "until"),
    )
    rows, following = await queries.list_page(
        session, chain_id, filters, cursor=cursor, limit=PAGE_SIZE
    )
    kept = {name: value for name, value in typed.items() if value}
    next_href = f"{AUDIT_PATH}?{urlencode({**kept, 'cursor': following})}" if following else None
    return pages.render(
        "audit.html",
        page_context(
            request,
            viewer,
            title="Audit log",
            events=[_shown(row) for row in rows],
            values=typed,
            next_href=next_href,
            first_href=f"{AUDIT_PATH}?{urlencode(kept)}" if cursor else None,
            verify_query=urlencode({"chain": chain}),
        ),
    )


@router.get(AUDIT_PATH + "/verify")
async def verify_page(
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    pages: PagesDep,
    container: ContainerDep,
    chain: ChainChoice = "application",
) -> Response:
    """Walk the whole chain; htmx swaps the result into the audit page, a plain GET gets it
    as a page of its own."""
    chain_id = queries.readable_chain(app_scope(viewer), chain)
    report = await queries.verify(
        session,
        container.audit_keys,
        chain_id,
        from_seq=None,
        to_seq=None,
        anchor_key=container.anchor_signer.public_key,
    )
    context = page_context(request, viewer, title="Audit chain verification", report=report)
    if request.headers.get("HX-Request") == "true":
        return pages.render("_audit_verify.html", context)
    return pages.render("audit_verify.html", context)
