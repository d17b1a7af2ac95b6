"""The audit log: events, JSON Lines export, chain verification, signed anchors and proofs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Query
from starlette.responses import StreamingResponse

from corral.api.deps import AppScopeDep, ContainerDep, PageDep, SessionDep
from corral.api.openapi import ERRORS, problem_response
from corral.audit import queries
from corral.audit.chain import document, format_time
from corral.audit.models import AuditAnchor
from corral.audit.schemas import (
    AnchorExport,
    AnchorRead,
    AuditEventFilters,
    AuditEventRead,
    ChainChoice,
    ProofRead,
    VerifyRead,
)
from corral.core.pagination import Page

router = APIRouter(tags=["audit"], responses=ERRORS)

EventId = Annotated[str, Path(max_length=40)]
AnchorId = Annotated[str, Path(max_length=40)]
Text = Annotated[str | None, Query(max_length=200)]
Chain = Annotated[
    ChainChoice,
    Query(
        description="`application` (the caller's) or `organization` (the organization's own "
        "events; signed-in users only)."
    ),
]
_JSONL: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "One event per line (JSON Lines), oldest first, as signed.",
        "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
    }
}
_NOT_ANCHORED: dict[int | str, dict[str, Any]] = {
    409: problem_response("The event is not under an anchor yet.")
}


def event_filters(
    actor_type: Text = None,
    actor_id: Text = None,
    action: Text = None,
    target_type: Text = None,
    target_id: Text = None,
    outcome: Text = None,
    since: Annotated[datetime | None, Query(description="From this time (inclusive).")] = None,
    until: Annotated[datetime | None, Query(description="Before this time.")] = None,
) -> AuditEventFilters:
    return AuditEventFilters(
        actor_type=actor_type,
        actor_id=actor_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        outcome=outcome,
        since=since,
        until=until,
    )


Filters = Annotated[AuditEventFilters, Depends(event_filters)]


def read_anchor(anchor: AuditAnchor) -> AnchorRead:
    return AnchorRead(
        id=anchor.id,
        chain_id=anchor.chain_id,
        first_seq=anchor.first_seq,
        last_seq=anchor.last_seq,
        tree_size=anchor.tree_size,
        root_hash=anchor.root_hash,
        created_at=format_time(anchor.created_at),
        signature=anchor.signature,
        public_key=anchor.public_key,
    )


@router.get("/api/audit/events", response_model=Page[AuditEventRead])
async def list_events(
    scope: AppScopeDep,
    session: SessionDep,
    page: PageDep,
    filters: Filters,
    chain: Chain = "application",
) -> Page[AuditEventRead]:
    """Audit events, newest first, exactly as signed."""
    chain_id = queries.readable_chain(scope, chain)
    rows, cursor = await queries.list_page(
        session, chain_id, filters, cursor=page.cursor, limit=page.limit
    )
    return Page[AuditEventRead](
        data=[AuditEventRead.model_validate(row) for row in rows], next_cursor=cursor
    )


@router.get("/api/audit/export", response_class=StreamingResponse, responses=_JSONL)
async def export_events(
    scope: AppScopeDep, container: ContainerDep, filters: Filters, chain: Chain = "application"
) -> StreamingResponse:
    """Every matching event as JSON Lines, oldest first, streamed in batches."""
    chain_id = queries.readable_chain(scope, chain)

    async def lines() -> AsyncIterator[bytes]:
        async for event in queries.export(container.sessions, chain_id, filters):
            yield orjson.dumps(event) + b"\n"

    return StreamingResponse(
        lines(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="audit-{chain_id}.jsonl"'},
    )


@router.get("/api/audit/verify", response_model=VerifyRead)
async def verify_chain(
    scope: AppScopeDep,
    session: SessionDep,
    container: ContainerDep,
    from_seq: Annotated[int | None, Query(ge=1, description="First sequence number.")] = None,
    to_seq: Annotated[int | None, Query(ge=1, description="Last sequence number.")] = None,
    chain: Chain = "application",
) -> VerifyRead:
    """Walk the chain (or a range): HMACs, links, gaps, the head and the signed anchors' roots;
    the first bad event."""
    chain_id = queries.readable_chain(scope, chain)
    report = await queries.verify(
        session,
        container.audit_keys,
        chain_id,
        from_seq=from_seq,
        to_seq=to_seq,
        anchor_key=container.anchor_signer.public_key,
    )
    return VerifyRead(
        chain_id=report.chain_id,
        ok=report.ok,
        events_checked=report.events_checked,
        first_seq=report.first_seq,
        last_seq=report.last_seq,
        head_seq=report.head_seq,
        legacy_events=report.legacy_events,
        first_bad_seq=report.first_bad_seq,
        reason=report.reason,
        detail=report.detail,
        anchors_checked=report.anchors_checked,
        events_per_second=round(report.events_per_second, 1),
    )


@router.get("/api/audit/events/{event_id}", response_model=AuditEventRead)
async def get_event(
    event_id: EventId, scope: AppScopeDep, session: SessionDep, chain: Chain = "application"
) -> AuditEventRead:
    """One event, exactly as signed."""
    chain_id = queries.readable_chain(scope, chain)
    event = await queries.get_event(session, chain_id, event_id)
    return AuditEventRead.model_validate(document(event))


@router.get("/api/audit/events/{event_id}/proof", response_model=ProofRead, responses=_NOT_ANCHORED)
async def event_proof(
    event_id: EventId, scope: AppScopeDep, session: SessionDep, chain: Chain = "application"
) -> ProofRead:
    """The event's RFC 6962 inclusion proof in the signed anchor that covers it."""
    chain_id = queries.readable_chain(scope, chain)
    proof = await queries.proof(session, chain_id, event_id)
    return ProofRead(
        event=AuditEventRead.model_validate(proof.event),
        leaf_index=proof.leaf_index,
        leaf_hash=proof.leaf_hash,
        path=proof.path,
        anchor=read_anchor(proof.anchor),
    )


@router.get("/api/audit/anchors", response_model=Page[AnchorRead])
async def list_anchors(
    scope: AppScopeDep, session: SessionDep, page: PageDep, chain: Chain = "application"
) -> Page[AnchorRead]:
    """Signed anchors of the chain, newest first."""
    chain_id = queries.readable_chain(scope, chain)
    rows, cursor = await queries.list_anchors(
        session, chain_id, cursor=page.cursor, limit=page.limit
    )
    return Page[AnchorRead](data=[read_anchor(a) for a in rows], next_cursor=cursor)


@router.get("/api/audit/anchors/{anchor_id}", response_model=AnchorExport)
async def export_anchor(
    anchor_id: AnchorId, scope: AppScopeDep, session: SessionDep, chain: Chain = "application"
) -> AnchorExport:
    """An anchor with its leaf hashes: enough to rebuild and check its root offline."""
    chain_id = queries.readable_chain(scope, chain)
    anchor, leaves = await queries.get_anchor(session, chain_id, anchor_id)
    return AnchorExport(
        **read_anchor(anchor).model_dump(), leaf_hashes=[leaf.hex() for leaf in leaves]
    )
