"""Signed Merkle anchors: sealing new events, inclusion proofs, and the offline check."""

from __future__ import annotations

import base64
import os

from fastapi import FastAPI
from sqlalchemy import select

from corral.audit import anchors, merkle
from corral.audit.anchors import AnchorSigner, anchor_pending, verify_event_offline
from corral.audit.chain import canonical_json, format_time, signed_fields
from corral.audit.models import AuditAnchor, AuditEvent
from tests.audit import tamper
from tests.audit.test_chain import APP, append, container_of, events, verify


async def _anchors(app: FastAPI) -> list[AuditAnchor]:
    async with container_of(app).sessions() as session:
        rows = await session.scalars(select(AuditAnchor).order_by(AuditAnchor.first_seq))
        return list(rows)


def exported(anchor: AuditAnchor) -> dict[str, object]:
    return {
        "id": anchor.id,
        "chain_id": anchor.chain_id,
        "first_seq": anchor.first_seq,
        "last_seq": anchor.last_seq,
        "tree_size": anchor.tree_size,
        "root_hash": anchor.root_hash,
        "created_at": format_time(anchor.created_at),
        "signature": anchor.signature,
    }


async def test_new_events_are_sealed_in_contiguous_signed_anchors(app: FastAPI) -> None:
    container = container_of(app)
    signer = container.anchor_signer
    await append(container, 5)
    assert await anchor_pending(container.sessions, signer, max_events=2) == 3
    assert await anchor_pending(container.sessions, signer, max_events=2) == 0
    await append(container, 1)
    assert await anchor_pending(container.sessions, signer, max_events=100) == 1
    sealed = await _anchors(app)
    assert [(a.first_seq, a.last_seq, a.tree_size) for a in sealed] == [
        (1, 2, 2),
        (3, 4, 2),
        (5, 5, 1),
        (6, 6, 1),
    ]
    assert all(a.public_key == signer.public_key for a in sealed)
    assert all(anchors.verify_anchor_signature(exported(a), signer.public_key) for a in sealed)


async def test_an_event_is_checked_offline_with_only_the_public_key(app: FastAPI) -> None:
    container = container_of(app)
    await append(container, 7)
    await anchor_pending(container.sessions, container.anchor_signer, max_events=100)
    async with container.sessions() as session:
        event = await session.scalar(select(AuditEvent).where(AuditEvent.seq == 5))
        assert event is not None
        proof = await anchors.inclusion_proof(session, event)
    anchor = exported(proof.anchor)
    public_key = container.anchor_signer.public_key
    shipped = {"leaf_index": proof.leaf_index, "path": proof.path}
    assert proof.leaf_index == 4
    assert verify_event_offline(proof.event, shipped, anchor, public_key)

    changed = {**proof.event, "action": "policy.deleted"}
    assert not verify_event_offline(changed, shipped, anchor, public_key)
    moved = {**shipped, "leaf_index": 3}
    assert not verify_event_offline(proof.event, moved, anchor, public_key)
    other_root = {**anchor, "root_hash": merkle.leaf_hash(b"x").hex()}
    assert not verify_event_offline(proof.event, shipped, other_root, public_key)
    stranger = AnchorSigner(os.urandom(32)).public_key
    assert not verify_event_offline(proof.event, shipped, anchor, stranger)
    assert not verify_event_offline(proof.event, shipped, anchor, base64.b64encode(b"x").decode())


async def test_a_chain_with_a_hole_is_not_sealed(app: FastAPI, database_url: str) -> None:
    container = container_of(app)
    await append(container, 3)
    tamper.tamper(database_url, tamper.delete(APP, 2))
    assert await anchor_pending(container.sessions, container.anchor_signer, max_events=100) == 0
    assert await _anchors(app) == []


async def test_anchors_catch_a_rewrite_made_with_the_hmac_key(
    app: FastAPI, database_url: str
) -> None:
    container = container_of(app)
    await append(container, 5)
    await anchor_pending(container.sessions, container.anchor_signer, max_events=100)
    last = (await events(container))[-1]
    rewritten = {**signed_fields(last), "action": "policy.deleted"}
    keys = container.audit_keys
    row_hash = keys.row_hash(last.key_id, canonical_json(rewritten), last.prev_hash)
    params = {"c": APP, "h": row_hash}
    tamper.tamper(
        database_url,
        (
            "UPDATE audit_events SET action = 'policy.deleted', row_hash = :h "
            "WHERE chain_id = :c AND seq = 5",
            params,
        ),
        ("UPDATE audit_chain_heads SET row_hash = :h WHERE chain_id = :c", params),
    )
    report = await verify(container)
    assert (report.ok, report.first_bad_seq, report.reason) == (False, 1, "anchor_mismatch")


async def test_anchors_catch_a_cut_end_with_a_rewritten_head(
    app: FastAPI, database_url: str
) -> None:
    container = container_of(app)
    await append(container, 5)
    await anchor_pending(container.sessions, container.anchor_signer, max_events=100)
    fourth = (await events(container))[3]
    params = {"c": APP, "h": fourth.row_hash}
    tamper.tamper(
        database_url,
        tamper.delete(APP, 5),
        ("UPDATE audit_chain_heads SET seq = 4, row_hash = :h WHERE chain_id = :c", params),
    )
    report = await verify(container)
    assert (report.ok, report.first_bad_seq, report.reason) == (False, 5, "missing_event")


async def test_anchors_signed_by_another_key_are_refused(app: FastAPI) -> None:
    container = container_of(app)
    await append(container, 3)
    await anchor_pending(container.sessions, AnchorSigner(os.urandom(32)), max_events=100)
    report = await verify(container)
    assert (report.ok, report.first_bad_seq, report.reason) == (
        False,
        1,
        "anchor_signature_invalid",
    )


async def test_a_sound_chain_checks_its_anchors(app: FastAPI) -> None:
    container = container_of(app)
    await append(container, 5)
    await anchor_pending(container.sessions, container.anchor_signer, max_events=2)
    await append(container, 1)
    report = await verify(container)
    assert (report.ok, report.anchors_checked, report.events_checked) == (True, 3, 6)
    assert (await verify(container, from_seq=2, to_seq=4)).anchors_checked == 1
