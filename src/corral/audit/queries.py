"""Reading the audit log: which chain a caller may read, filtered pages, export, verification.

A caller reads its application's chain; a signed-in user may instead read the chain of the
organization's own events (members, applications, the organization itself). Events and
anchors of other chains answer 404.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

from sqlalchemy import Select, Table, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from corral.audit import anchors
from corral.audit.chain import SIGNED_FIELDS, AuditKeys, document
from corral.audit.models import AuditAnchor, AuditEvent
from corral.audit.schemas import AuditEventFilters, ChainChoice
from corral.audit.verify import ChainReport, verify_chain
from corral.core.db import READ_ONLY
from corral.core.errors import InvalidInput, NotFound, PermissionDenied
from corral.core.pagination import decode_cursor, encode_cursor
from corral.identity.access import AppScope

_EVENTS = cast(Table, AuditEvent.__table__)
_COLUMNS = [_EVENTS.c[name] for name in (*SIGNED_FIELDS, "key_id", "prev_hash", "row_hash")]
EXPORT_BATCH = 1000


def readable_chain(scope: AppScope, chain: ChainChoice = "application") -> str:
    scope.require("audit:read")
    if chain == "organization":
        if scope.caller.kind != "user":
            raise PermissionDenied(
                "only signed-in users read the organization's chain (API keys are bound to "
                "one application)",
                code="missing_permission",
            )
        return scope.org_id
    return scope.application_id


def _seq_cursor(cursor: str) -> int:
    raw = decode_cursor(cursor)
    if not raw.isdigit():
        raise InvalidInput("cursor is not one this API issued", code="invalid_cursor")
    return int(raw)


def _filtered(chain_id: str, filters: AuditEventFilters) -> Select[Any]:
    query = select(*_COLUMNS).where(_EVENTS.c.chain_id == chain_id)
    for name in ("actor_type", "actor_id", "action", "target_type", "target_id", "outcome"):
        value = getattr(filters, name)
        if value is not None:
            query = query.where(_EVENTS.c[name] == value)
    if filters.since is not None:
        query = query.where(_EVENTS.c.created_at >= filters.since)
    if filters.until is not None:
        query = query.where(_EVENTS.c.created_at < filters.until)
    return query


async def list_page(
    session: AsyncSession,
    chain_id: str,
    filters: AuditEventFilters,
    *,
    cursor: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first (by sequence number), as exported documents."""
    query = _filtered(chain_id, filters)
    if cursor is not None:
        query = query.where(_EVENTS.c.seq < _seq_cursor(cursor))
    rows = (await session.execute(query.order_by(_EVENTS.c.seq.desc()).limit(limit + 1))).all()
    following = None
    if len(rows) > limit:
        rows = rows[:limit]
        following = encode_cursor(str(rows[-1].seq))
    return [document(row) for row in rows], following


async def export(
    sessions: async_sessionmaker[AsyncSession], chain_id: str, filters: AuditEventFilters
) -> AsyncIterator[dict[str, Any]]:
    """Every matching event, oldest first, read in short batches (no transaction held open)."""
    after = 0
    while True:
        async with sessions() as session:
            await session.connection(execution_options={READ_ONLY: True})
            rows: Sequence[Any] = (
                await session.execute(
                    _filtered(chain_id, filters)
                    .where(_EVENTS.c.seq > after)
                    .order_by(_EVENTS.c.seq)
                    .limit(EXPORT_BATCH)
                )
            ).all()
        for row in rows:
            yield document(row)
        if len(rows) < EXPORT_BATCH:
            return
        after = int(rows[-1].seq)


async def get_event(session: AsyncSession, chain_id: str, event_id: str) -> AuditEvent:
    found = await session.scalar(
        select(AuditEvent).where(AuditEvent.id == event_id, AuditEvent.chain_id == chain_id)
    )
    if found is None:
        raise NotFound("audit event")
    return found


async def proof(session: AsyncSession, chain_id: str, event_id: str) -> anchors.InclusionProof:
    return await anchors.inclusion_proof(session, await get_event(session, chain_id, event_id))


async def verify(
    session: AsyncSession,
    keys: AuditKeys,
    chain_id: str,
    *,
    from_seq: int | None,
    to_seq: int | None,
    anchor_key: str,
) -> ChainReport:
    if from_seq is not None and to_seq is not None and to_seq < from_seq:
        raise InvalidInput("to_seq must not be below from_seq", code="invalid_range")
    return await verify_chain(
        session, keys, chain_id, from_seq=from_seq, to_seq=to_seq, anchor_key=anchor_key
    )


async def list_anchors(
    session: AsyncSession, chain_id: str, *, cursor: str | None, limit: int
) -> tuple[list[AuditAnchor], str | None]:
    """Newest first (by first sequence number)."""
    query = select(AuditAnchor).where(AuditAnchor.chain_id == chain_id)
    if cursor is not None:
        query = query.where(AuditAnchor.first_seq < _seq_cursor(cursor))
    rows = list(
        await session.scalars(query.order_by(AuditAnchor.first_seq.desc()).limit(limit + 1))
    )
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(str(rows[-1].first_seq))


async def get_anchor(
    session: AsyncSession, chain_id: str, anchor_id: str
) -> tuple[AuditAnchor, list[bytes]]:
    """The anchor and its leaf hashes, so an auditor can rebuild the root."""
    anchor = await session.scalar(
        select(AuditAnchor).where(AuditAnchor.id == anchor_id, AuditAnchor.chain_id == chain_id)
    )
    if anchor is None:
        raise NotFound("audit anchor")
    return anchor, await anchors.leaf_hashes(session, anchor)
