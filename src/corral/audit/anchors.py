"""Signed Merkle anchors: a chain's new events sealed under an Ed25519-signed RFC 6962 root.

An anchor covers a contiguous run of one chain's sequence numbers, so (unlike anchoring by
time) an event can never fall between two anchors. The leaf of an event is the canonical JSON
of its exported document (`chain.document`), so an auditor who holds an event, its inclusion
proof, the anchor and Corral's public key can check the event offline
(`verify_event_offline`), without the database or the HMAC keys.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import structlog
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import Row, Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from corral.audit import merkle
from corral.audit.chain import SIGNED_FIELDS, canonical_json, document, format_time
from corral.audit.models import AuditAnchor, AuditChainHead, AuditEvent
from corral.core.clock import utcnow
from corral.core.db import READ_ONLY, transaction
from corral.core.errors import Conflict
from corral.core.ids import new_id

_EVENTS = cast(Table, AuditEvent.__table__)
_DOCUMENT_COLUMNS = [
    _EVENTS.c[name] for name in (*SIGNED_FIELDS, "key_id", "prev_hash", "row_hash")
]
_log = structlog.get_logger(__name__)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class AnchorSigner:
    """Signs anchors with the Ed25519 key of `CORRAL_AUDIT_SIGNING_KEY`."""

    def __init__(self, seed: bytes) -> None:
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        raw = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.public_key = _b64(raw)

    def sign(self, message: bytes) -> str:
        return _b64(self._key.sign(message))


def anchor_statement(
    *,
    anchor_id: str,
    chain_id: str,
    first_seq: int,
    last_seq: int,
    tree_size: int,
    root_hash: str,
    created_at: datetime | str,
) -> bytes:
    """The bytes an anchor's signature covers (RFC 8785 JSON of what the anchor claims)."""
    when = created_at if isinstance(created_at, str) else format_time(created_at)
    return canonical_json(
        {
            "id": anchor_id,
            "chain_id": chain_id,
            "first_seq": first_seq,
            "last_seq": last_seq,
            "tree_size": tree_size,
            "root_hash": root_hash,
            "created_at": when,
        }
    )


def event_leaf(event_document: Mapping[str, Any]) -> bytes:
    """The Merkle leaf hash of an exported event document."""
    return merkle.leaf_hash(canonical_json(dict(event_document)))


async def _documents(
    session: AsyncSession, chain_id: str, first_seq: int, last_seq: int
) -> list[Row[Any]]:
    rows = await session.execute(
        select(*_DOCUMENT_COLUMNS)
        .where(_EVENTS.c.chain_id == chain_id, _EVENTS.c.seq.between(first_seq, last_seq))
        .order_by(_EVENTS.c.seq)
    )
    return list(rows.all())


async def _anchor_next(
    session: AsyncSession, signer: AnchorSigner, chain_id: str, after_seq: int, head_seq: int
) -> AuditAnchor | None:
    """The next anchor of the chain, built from committed (so unchangeable) events."""
    rows = await _documents(session, chain_id, after_seq + 1, head_seq)
    if not rows:
        return None
    if [row.seq for row in rows] != list(range(after_seq + 1, after_seq + 1 + len(rows))):
        # A hole means rows were removed behind the triggers' back: sealing it would bless it.
        _log.error("audit.anchor_refused_gap", chain_id=chain_id, after_seq=after_seq)
        return None
    leaves = [event_leaf(document(row)) for row in rows]
    anchor = AuditAnchor(
        id=new_id("anc"),
        chain_id=chain_id,
        org_id=rows[-1].org_id,
        application_id=rows[-1].application_id,
        first_seq=rows[0].seq,
        last_seq=rows[-1].seq,
        tree_size=len(rows),
        root_hash=merkle.root(leaves).hex(),
        public_key=signer.public_key,
        created_at=utcnow(),
    )
    anchor.signature = signer.sign(
        anchor_statement(
            anchor_id=anchor.id,
            chain_id=chain_id,
            first_seq=anchor.first_seq,
            last_seq=anchor.last_seq,
            tree_size=anchor.tree_size,
            root_hash=anchor.root_hash,
            created_at=anchor.created_at,
        )
    )
    return anchor


async def anchor_pending(
    sessions: async_sessionmaker[AsyncSession], signer: AnchorSigner, *, max_events: int
) -> int:
    """Seal every chain's events not yet under an anchor; how many anchors were made.

    A chain head only moves when the transaction that appended commits (it holds the head's
    lock until then), so every event up to a committed head is itself committed.
    """
    async with _reading(sessions) as session:
        anchored = (
            select(AuditAnchor.chain_id, func.max(AuditAnchor.last_seq).label("last_seq"))
            .group_by(AuditAnchor.chain_id)
            .subquery()
        )
        pending = (
            await session.execute(
                select(AuditChainHead.chain_id, AuditChainHead.seq, anchored.c.last_seq)
                .outerjoin(anchored, anchored.c.chain_id == AuditChainHead.chain_id)
                .where(AuditChainHead.seq > func.coalesce(anchored.c.last_seq, 0))
                .order_by(AuditChainHead.chain_id)
            )
        ).all()
    made = 0
    for chain_id, head_seq, last_anchored in pending:
        after = int(last_anchored or 0)
        while after < head_seq:
            # Read and hash outside the write: on SQLite a write transaction holds the one
            # write lock, and committed events cannot change under the reader.
            async with _reading(sessions) as session:
                anchor = await _anchor_next(
                    session, signer, chain_id, after, min(head_seq, after + max_events)
                )
            if anchor is None:
                break
            async with transaction(sessions) as session:
                session.add(anchor)
            made += 1
            after = anchor.last_seq
    return made


@asynccontextmanager
async def _reading(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessions() as session, session.begin():
        await session.connection(execution_options={READ_ONLY: True})
        yield session


@dataclass(frozen=True, slots=True)
class InclusionProof:
    event: dict[str, Any]
    leaf_index: int
    leaf_hash: str
    path: list[str]
    anchor: AuditAnchor


async def leaf_hashes(session: AsyncSession, anchor: AuditAnchor) -> list[bytes]:
    rows = await _documents(session, anchor.chain_id, anchor.first_seq, anchor.last_seq)
    return [event_leaf(document(row)) for row in rows]


async def anchor_covering(session: AsyncSession, chain_id: str, seq: int) -> AuditAnchor | None:
    found: AuditAnchor | None = await session.scalar(
        select(AuditAnchor).where(
            AuditAnchor.chain_id == chain_id,
            AuditAnchor.first_seq <= seq,
            AuditAnchor.last_seq >= seq,
        )
    )
    return found


async def inclusion_proof(session: AsyncSession, event: AuditEvent) -> InclusionProof:
    anchor = await anchor_covering(session, event.chain_id, event.seq)
    if anchor is None:
        raise Conflict(
            "this event is not under an anchor yet (the audit_anchor loop seals new events "
            "periodically)",
            code="audit_event_not_anchored",
        )
    leaves = await leaf_hashes(session, anchor)
    index = event.seq - anchor.first_seq
    return InclusionProof(
        event=document(event),
        leaf_index=index,
        leaf_hash=leaves[index].hex(),
        path=[node.hex() for node in merkle.inclusion_path(index, leaves)],
        anchor=anchor,
    )


def verify_anchor_signature(anchor: Mapping[str, Any], public_key: str) -> bool:
    """Whether an exported anchor carries a valid signature by `public_key` (base64)."""
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key))
        key.verify(
            base64.b64decode(anchor["signature"]),
            anchor_statement(
                anchor_id=anchor["id"],
                chain_id=anchor["chain_id"],
                first_seq=anchor["first_seq"],
                last_seq=anchor["last_seq"],
                tree_size=anchor["tree_size"],
                root_hash=anchor["root_hash"],
                created_at=anchor["created_at"],
            ),
        )
    except (InvalidSignature, ValueError, KeyError, TypeError):
        return False
    return True


def verify_event_offline(
    event_document: Mapping[str, Any],
    proof: Mapping[str, Any],
    anchor: Mapping[str, Any],
    public_key: str,
) -> bool:
    """Check one exported event against a signed anchor with nothing but the public key.

    `proof` is `{"leaf_index", "path": [hex…]}` and `anchor` the exported anchor (`id`,
    `chain_id`, `first_seq`, `last_seq`, `tree_size`, `root_hash`, `created_at`, `signature`),
    as `GET /api/audit/events/{id}/proof` returns them.
    """
    if not verify_anchor_signature(anchor, public_key):
        return False
    try:
        index = int(proof["leaf_index"])
        path: Sequence[bytes] = [bytes.fromhex(node) for node in proof["path"]]
        expected_root = bytes.fromhex(anchor["root_hash"])
        in_range = anchor["first_seq"] + index == event_document["seq"]
        same_chain = event_document["chain_id"] == anchor["chain_id"]
    except (KeyError, TypeError, ValueError):
        return False
    return (
        in_range
        and same_chain
        and merkle.verify_inclusion(
            event_leaf(event_document), index, int(anchor["tree_size"]), path, expected_root
        )
    )
