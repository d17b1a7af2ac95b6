"""Response bodies of the audit API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

ChainChoice = Literal["application", "organization"]


class AuditEventRead(BaseModel):
    """An event exactly as signed: its canonical JSON is its Merkle leaf."""

    id: str
    chain_id: str
    seq: int
    org_id: str | None
    application_id: str | None
    actor_type: str
    actor_id: str | None
    action: str = Field(description="Stable dotted name, e.g. `policy.updated`.")
    target_type: str
    target_id: str | None
    outcome: str = Field(description="`success`, or `denied`, `blocked`, `throttled`, …")
    details: dict[str, Any]
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None
    ip_address: str | None
    user_agent: str | None
    created_at: str = Field(description="UTC, microseconds, in the exact form that is signed.")
    key_id: str = Field(description="Id of the HMAC key in CORRAL_AUDIT_HMAC_KEYS.")
    prev_hash: str
    row_hash: str


class VerifyRead(BaseModel):
    chain_id: str
    ok: bool
    events_checked: int
    first_seq: int | None
    last_seq: int | None
    head_seq: int = Field(description="The chain's last sequence number.")
    legacy_events: int = Field(description="Unsigned events recorded before the chain existed.")
    first_bad_seq: int | None
    reason: str | None = Field(
        description="`missing_event`, `row_hash_mismatch`, `prev_hash_mismatch`, "
        "`unknown_key`, `unsigned_event`, `head_mismatch`, `anchor_mismatch` or "
        "`anchor_signature_invalid`; null when ok."
    )
    detail: str | None
    anchors_checked: int = Field(description="Signed anchors whose Merkle root was rebuilt.")
    events_per_second: float


class AnchorRead(BaseModel):
    id: str
    chain_id: str
    first_seq: int
    last_seq: int
    tree_size: int
    root_hash: str = Field(description="RFC 6962 Merkle tree hash (hex) of the events' leaves.")
    created_at: str = Field(description="UTC, microseconds, in the exact form that is signed.")
    signature: str = Field(description="Ed25519 signature (base64) of the anchor statement.")
    public_key: str = Field(description="Ed25519 public key (base64, raw 32 bytes).")


class AnchorExport(AnchorRead):
    leaf_hashes: list[str] = Field(description="The leaf hashes (hex) in sequence order.")


class ProofRead(BaseModel):
    event: AuditEventRead
    leaf_index: int
    leaf_hash: str
    path: list[str] = Field(description="RFC 6962 audit path (hex), from the leaf upwards.")
    anchor: AnchorRead


class AuditEventFilters(BaseModel):
    actor_type: str | None = None
    actor_id: str | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None
