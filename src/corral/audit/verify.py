"""Walking a chain: every row's HMAC, every link, no gaps, and the head at the end.

Rows are streamed in batches by sequence number, so a chain of any length is verified in
constant memory. The first problem found ends the walk and is reported with its sequence
number and a reason:

- `missing_event`: a sequence number is absent (a row was deleted), or the chain ends before
  its head says it does (rows cut from the end);
- `row_hash_mismatch`: the row's content does not match its HMAC (changed, or forged without
  the key; reordering rows changes their `seq`, which the HMAC covers);
- `prev_hash_mismatch`: the row does not follow its predecessor (rows inserted or swapped);
- `unknown_key`: the row names a key id that is not configured;
- `unsigned_event`: an unsigned (`legacy`) row after signed ones;
- `head_mismatch`: the chain head records a different last hash than the last row has;
- `anchor_mismatch`: events under a signed anchor no longer hash to its Merkle root (changed by
  someone holding the HMAC key, which the chain alone cannot notice);
- `anchor_signature_invalid`: an anchor is not signed by the configured anchor key.

Anchors also bound the chain's length: events cut from its end together with a rewritten head
are found because an anchor still covers them.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.audit import merkle
from corral.audit.anchors import event_leaf, verify_anchor_signature
from corral.audit.chain import (
    GENESIS_HASH,
    SIGNED_FIELDS,
    AuditKeys,
    canonical_json,
    document,
    format_time,
    signed_fields,
)
from corral.audit.models import AuditAnchor, AuditChainHead, AuditEvent

LEGACY_KEY_ID = "legacy"
_EVENTS = cast(Table, AuditEvent.__table__)
_COLUMNS = [_EVENTS.c[name] for name in (*SIGNED_FIELDS, "key_id", "prev_hash", "row_hash")]
BATCH_SIZE = 2000


@dataclass
class ChainReport:
    chain_id: str
    ok: bool
    events_checked: int
    first_seq: int | None
    last_seq: int | None
    head_seq: int
    legacy_events: int
    first_bad_seq: int | None
    reason: str | None
    detail: str | None
    seconds: float
    anchors_checked: int = 0

    @property
    def events_per_second(self) -> float:
        return self.events_checked / self.seconds if self.seconds > 0 else 0.0


class _Walk:
    def __init__(self, keys: AuditKeys, prev_hash: str | None, next_seq: int) -> None:
        self.keys = keys
        self.prev_hash = prev_hash
        self.next_seq = next_seq
        self.checked = 0
        self.legacy = 0
        self.signed_seen = False
        self.bad_seq: int | None = None
        self.reason: str | None = None
        self.detail: str | None = None

    def fail(self, seq: int, reason: str, detail: str) -> None:
        self.bad_seq, self.reason, self.detail = seq, reason, detail

    def check(self, row: Any) -> bool:
        seq = int(row.seq)
        if seq != self.next_seq:
            self.fail(self.next_seq, "missing_event", f"expected seq {self.next_seq}, found {seq}")
            return False
        if row.key_id == LEGACY_KEY_ID:
            if self.signed_seen:
                self.fail(seq, "unsigned_event", "an unsigned row follows signed rows")
                return False
            self.legacy += 1
            # The first signed row follows the unsigned prefix as if it began the chain.
            self.prev_hash = GENESIS_HASH
        else:
            if row.key_id not in self.keys:
                self.fail(seq, "unknown_key", f"key id {row.key_id!r} is not configured")
                return False
            if self.prev_hash is not None and row.prev_hash != self.prev_hash:
                self.fail(seq, "prev_hash_mismatch", "the row does not follow its predecessor")
                return False
            expected = self.keys.row_hash(
                row.key_id, canonical_json(signed_fields(row)), row.prev_hash
            )
            if expected != row.row_hash:
                self.fail(seq, "row_hash_mismatch", "the row was changed or forged")
                return False
            self.signed_seen = True
            self.prev_hash = row.row_hash
        self.checked += 1
        self.next_seq = seq + 1
        return True


class _Anchors:
    """Rebuilds each anchor's Merkle root from the rows as the walk passes them."""

    def __init__(self, anchors: list[AuditAnchor], public_key: str | None) -> None:
        self.pending = deque(anchors)
        self.public_key = public_key
        self.leaves: list[bytes] = []
        self.checked = 0

    def see(self, row: Any, walk: _Walk) -> bool:
        if not self.pending or row.seq < self.pending[0].first_seq:
            return True
        anchor = self.pending[0]
        self.leaves.append(event_leaf(document(row)))
        if row.seq < anchor.last_seq:
            return True
        self.pending.popleft()
        leaves, self.leaves = self.leaves, []
        if len(leaves) != anchor.tree_size or merkle.root(leaves).hex() != anchor.root_hash:
            walk.fail(
                anchor.first_seq,
                "anchor_mismatch",
                f"events {anchor.first_seq}–{anchor.last_seq} no longer match anchor {anchor.id}",
            )
            return False
        if self.public_key is not None and not _signed_by(anchor, self.public_key):
            walk.fail(
                anchor.first_seq,
                "anchor_signature_invalid",
                f"anchor {anchor.id} is not signed by the configured anchor key",
            )
            return False
        self.checked += 1
        return True


def _signed_by(anchor: AuditAnchor, public_key: str) -> bool:
    exported = {
        "id": anchor.id,
        "chain_id": anchor.chain_id,
        "first_seq": anchor.first_seq,
        "last_seq": anchor.last_seq,
        "tree_size": anchor.tree_size,
        "root_hash": anchor.root_hash,
        "created_at": format_time(anchor.created_at),
        "signature": anchor.signature,
    }
    return anchor.public_key == public_key and verify_anchor_signature(exported, public_key)


async def _anchors_within(
    session: AsyncSession, chain_id: str, start: int, to_seq: int | None
) -> list[AuditAnchor]:
    query = select(AuditAnchor).where(
        AuditAnchor.chain_id == chain_id, AuditAnchor.first_seq >= start
    )
    if to_seq is not None:
        query = query.where(AuditAnchor.last_seq <= to_seq)
    return list(await session.scalars(query.order_by(AuditAnchor.first_seq)))


async def verify_chain(
    session: AsyncSession,
    keys: AuditKeys,
    chain_id: str,
    *,
    from_seq: int | None = None,
    to_seq: int | None = None,
    anchor_key: str | None = None,
    batch_size: int = BATCH_SIZE,
) -> ChainReport:
    """Verify the chain's events from `from_seq` (default 1) to `to_seq` (default: the head),
    and the anchors inside that range (their signatures too, when `anchor_key` is given)."""
    started = time.perf_counter()
    head = await session.get(AuditChainHead, chain_id)
    head_seq, head_hash = (head.seq, head.row_hash) if head is not None else (0, GENESIS_HASH)
    start = max(from_seq or 1, 1)
    end = head_seq if to_seq is None else min(to_seq, head_seq)
    prev_hash: str | None = GENESIS_HASH
    if start > 1:
        # A range is checked against the stored predecessor; a full walk from 1 checks it too.
        prev_hash = await session.scalar(
            select(_EVENTS.c.row_hash).where(
                _EVENTS.c.chain_id == chain_id, _EVENTS.c.seq == start - 1
            )
        )
    walk = _Walk(keys, prev_hash, start)
    anchors = _Anchors(await _anchors_within(session, chain_id, start, to_seq), anchor_key)
    last = start - 1
    while last < end and walk.reason is None:
        rows = (
            await session.execute(
                select(*_COLUMNS)
                .where(_EVENTS.c.chain_id == chain_id, _EVENTS.c.seq > last, _EVENTS.c.seq <= end)
                .order_by(_EVENTS.c.seq)
                .limit(batch_size)
            )
        ).all()
        if not rows:
            break
        for row in rows:
            if not (walk.check(row) and anchors.see(row, walk)):
                break
        last = int(rows[-1].seq)
    if walk.reason is None and walk.next_seq <= end:
        walk.fail(walk.next_seq, "missing_event", f"the chain ends before its head (seq {end})")
    if walk.reason is None and anchors.pending:
        covered = anchors.pending[-1].last_seq
        walk.fail(walk.next_seq, "missing_event", f"anchors cover the chain up to seq {covered}")
    if (
        walk.reason is None
        and to_seq is None
        and end > 0
        and walk.signed_seen
        and walk.prev_hash != head_hash
    ):
        walk.fail(end, "head_mismatch", "the chain head records another last hash")
    return ChainReport(
        chain_id=chain_id,
        ok=walk.reason is None,
        events_checked=walk.checked,
        first_seq=start if walk.checked else None,
        last_seq=walk.next_seq - 1 if walk.checked else None,
        head_seq=head_seq,
        legacy_events=walk.legacy,
        first_bad_seq=walk.bad_seq,
        reason=walk.reason,
        detail=walk.detail,
        seconds=time.perf_counter() - started,
        anchors_checked=anchors.checked,
    )


async def chain_ids(session: AsyncSession) -> list[str]:
    """Every chain that has events."""
    return list(await session.scalars(select(AuditChainHead.chain_id).order_by("chain_id")))
