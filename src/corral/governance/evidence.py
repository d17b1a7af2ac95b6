"""Decision evidence: rows in `policy_decisions`, from the decision API and from ingested spans.

A decision is recorded once per application and `decision_id`: an OTLP retry, or the span an
agent writes for a decision it asked the API for, does not record it twice (the span only adds
its trace and span ids to the row the API wrote).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypedDict, cast

import orjson
from sqlalchemy import Table, and_, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from corral.audit import service as audit
from corral.audit.service import Outcome
from corral.core.clock import utcnow
from corral.core.db import transaction
from corral.core.ids import new_id
from corral.core.metrics import Metrics
from corral.core.request_context import Actor
from corral.governance.models import DecisionPolicy, DecisionRecord
from corral.traces.ingest import SpanRow, clean, clean_text
from corral.traces.store import write_spans
from corral.webhooks.event_types import WebhookEventType
from corral.webhooks.outbox import emit
from corral_sdk.policy import Action, Decision

SOURCES = frozenset({"api", "sdk", "sidecar"})
ACTIONS = frozenset(action.value for action in Action)
ACTION_ATTR = "corral.decision.action"
_PREFIX = "corral.decision."
_MAX_ID_CHARS = 128
_MAX_TEXT_CHARS = 10_000
_MAX_POLICY_IDS = 100
_MAX_AUDIT_TEXT = 500
_DECISIONS = cast(Table, DecisionRecord.__table__)
_POLICIES = cast(Table, DecisionPolicy.__table__)


class EvidenceRow(TypedDict):
    """One `policy_decisions` row, and the policies that took part (policy id, role)."""

    id: str
    org_id: str
    application_id: str
    decision_id: str
    source: str
    call_name: str
    agent: str | None
    end_user: str | None
    action: str
    policy_id: str | None
    policy_name: str | None
    message: str | None
    matched: list[Any]
    shadow_policy_ids: list[str]
    errors: list[Any]
    trace_id: str | None
    span_id: str | None
    created_at: datetime


def bounded_id(value: str) -> str:
    """An id that fits its column: long ones are replaced by a digest, never cut (and merged)."""
    if len(value) <= _MAX_ID_CHARS:
        return clean_text(value)
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()


def _text(value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return clean_text(value[:_MAX_TEXT_CHARS])


def _roles(row: EvidenceRow) -> list[tuple[str, str]]:
    roles: list[tuple[str, str]] = []
    if row["policy_id"] is not None:
        roles.append((row["policy_id"], "decided"))
    for hit in row["matched"]:
        if isinstance(hit, dict) and isinstance(hit.get("policy_id"), str):
            roles.append((bounded_id(hit["policy_id"]), "matched"))
    roles += [(policy_id, "shadow") for policy_id in row["shadow_policy_ids"]]
    for failure in row["errors"]:
        if isinstance(failure, dict) and isinstance(failure.get("policy_id"), str):
            roles.append((bounded_id(failure["policy_id"]), "error"))
    return list(dict.fromkeys(roles))


def from_decision(
    decision: Decision,
    *,
    org_id: str,
    application_id: str,
    call_name: str,
    agent: str | None,
    end_user: str | None,
    trace_id: str | None,
    span_id: str | None,
) -> EvidenceRow:
    """The evidence row of a decision made by this server; its id is the decision id."""
    record_id = new_id("dec")
    return {
        "id": record_id,
        "org_id": org_id,
        "application_id": application_id,
        "decision_id": record_id,
        "source": "api",
        "call_name": clean_text(call_name[:_MAX_TEXT_CHARS]),
        "agent": _text(agent),
        "end_user": _text(end_user),
        "action": decision.action.value,
        "policy_id": decision.policy_id,
        "policy_name": _text(decision.policy_name),
        "message": _text(decision.message),
        "matched": [
            {
                "policy_id": hit.policy_id,
                "policy_name": clean_text(hit.policy_name),
                "action": hit.action.value,
                "failed_closed": hit.failed_closed,
                "throttle_admitted": hit.throttle_admitted,
            }
            for hit in decision.matched
        ],
        "shadow_policy_ids": list(dict.fromkeys(hit.policy_id for hit in decision.shadow)),
        "errors": [
            {
                "policy_id": failure.policy_id,
                "policy_name": clean_text(failure.policy_name),
                "action": failure.action.value,
                "reason": clean_text(failure.reason[:_MAX_TEXT_CHARS]),
                "failed_closed": failure.failed_closed,
                "shadow": failure.shadow,
            }
            for failure in decision.errors
        ],
        "trace_id": trace_id,
        "span_id": span_id,
        "created_at": utcnow(),
    }


def _policy_ids(value: object) -> list[str]:
    """Policy ids from a span attribute: an array, or JSON text of one."""
    if isinstance(value, str):
        # Some exporters flatten arrays to JSON text.
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            value = [value]
    if not isinstance(value, list):
        return []
    ids = [bounded_id(item) for item in value if isinstance(item, str) and item]
    return list(dict.fromkeys(ids))[:_MAX_POLICY_IDS]


def from_span(span: SpanRow) -> EvidenceRow | None:
    """The evidence a span carries (`corral.decision.*`, contract 3), or None."""
    attrs: Mapping[str, Any] = span["attributes"]
    action = attrs.get(ACTION_ATTR)
    if not isinstance(action, str) or action not in ACTIONS:
        return None
    raw_id = attrs.get(_PREFIX + "id")
    decision_id = (
        bounded_id(raw_id)
        if isinstance(raw_id, str) and raw_id
        # Without an id, the span itself identifies the decision, so retries still dedup.
        else f"span:{span['trace_id']}:{span['span_id']}"
    )
    source = attrs.get(_PREFIX + "source")
    policy_id = attrs.get(_PREFIX + "policy_id")
    return {
        "id": new_id("dec"),
        "org_id": span["org_id"],
        "application_id": span["application_id"],
        "decision_id": decision_id,
        "source": source if isinstance(source, str) and source in SOURCES else "sdk",
        "call_name": span["call_name"] or span["name"],
        "agent": span["agent_name"],
        "end_user": span["end_user_id"],
        "action": action,
        "policy_id": bounded_id(policy_id) if isinstance(policy_id, str) and policy_id else None,
        "policy_name": _text(attrs.get(_PREFIX + "policy_name")),
        "message": _text(attrs.get(_PREFIX + "message")),
        # An SDK or sidecar span names the policies that took part; their details stay in
        # the span itself.
        "matched": [
            {"policy_id": policy_id}
            for policy_id in _policy_ids(attrs.get(_PREFIX + "matched_policy_ids"))
        ],
        "shadow_policy_ids": _policy_ids(attrs.get(_PREFIX + "shadow_policy_ids")),
        "errors": [
            {"policy_id": policy_id}
            for policy_id in _policy_ids(attrs.get(_PREFIX + "error_policy_ids"))
        ],
        "trace_id": span["trace_id"],
        "span_id": span["span_id"],
        "created_at": span["start_time"],
    }


async def insert(
    session: AsyncSession, rows: Sequence[EvidenceRow], *, actor: Actor | None = None
) -> list[EvidenceRow]:
    """Store evidence rows, skipping decisions already recorded; the rows that were new.

    A decision already recorded without trace context (by the API) gets the span's ids. Each
    new decision that enforced something (any action but allow) is also an audit event, in
    this same transaction; `actor` is who asked for it (None: an SDK's span, via ingest).
    """
    unique = list({(r["application_id"], r["decision_id"]): r for r in rows}.values())
    if not unique:
        return []
    dialect = session.get_bind().dialect.name
    insert_into = postgresql.insert if dialect == "postgresql" else sqlite.insert
    columns = _DECISIONS.c
    stmt = (
        insert_into(_DECISIONS)
        .on_conflict_do_nothing(index_elements=["application_id", "decision_id"])
        .returning(columns.id)
    )
    values = [clean(dict(row)) for row in unique]
    inserted = {r.id for r in await session.execute(stmt, values)}
    new = [row for row in unique if row["id"] in inserted]
    for row in unique:
        if row["id"] not in inserted and row["trace_id"] is not None:
            await session.execute(
                update(_DECISIONS)
                .where(
                    and_(
                        columns.application_id == row["application_id"],
                        columns.decision_id == row["decision_id"],
                        or_(columns.trace_id.is_(None), columns.span_id.is_(None)),
                    )
                )
                .values(trace_id=row["trace_id"], span_id=row["span_id"])
            )
    _audit(session, new, actor)
    links = [
        {
            "record_id": row["id"],
            "policy_id": policy_id,
            "role": role,
            "application_id": row["application_id"],
        }
        for row in new
        for policy_id, role in _roles(row)
    ]
    if links:
        await session.execute(
            insert_into(_POLICIES).on_conflict_do_nothing(
                index_elements=["record_id", "policy_id", "role"]
            ),
            links,
        )
    for row in new:
        await _announce(session, row)
    return new


def _alerted(row: EvidenceRow) -> bool:
    return row["action"] == "alert" or any(
        isinstance(hit, dict) and hit.get("action") == "alert" for hit in row["matched"]
    )


async def _announce(session: AsyncSession, row: EvidenceRow) -> None:
    """Queue `policy.blocked` / `policy.alert` webhooks with the evidence (once per decision)."""
    kinds: list[WebhookEventType] = []
    if row["action"] == "block":
        kinds.append("policy.blocked")
    if _alerted(row):
        kinds.append("policy.alert")
    data = {
        "decision_id": row["decision_id"],
        "source": row["source"],
        "call": row["call_name"],
        "agent": row["agent"],
        "end_user": row["end_user"],
        "action": row["action"],
        "policy_id": row["policy_id"],
        "policy_name": row["policy_name"],
        "message": row["message"],
        "trace_id": row["trace_id"],
        "span_id": row["span_id"],
        "alert_policy_ids": [
            hit["policy_id"]
            for hit in row["matched"]
            if isinstance(hit, dict) and hit.get("action") == "alert"
        ],
    }
    for kind in kinds:
        await emit(
            session,
            org_id=row["org_id"],
            application_id=row["application_id"],
            event_type=kind,
            data=data,
        )


_OUTCOMES: dict[str, Outcome] = {
    "block": "blocked",
    "steer": "steered",
    "throttle": "throttled",
    "require_approval": "pending",
    "alert": "alerted",
    "log": "logged",
}
_INGEST_ACTOR = Actor.system("ingest")


def _audit(session: AsyncSession, rows: Sequence[EvidenceRow], actor: Actor | None) -> None:
    for row in rows:
        outcome = _OUTCOMES.get(row["action"])
        if outcome is None:
            continue
        audit.record(
            session,
            actor or _INGEST_ACTOR,
            f"decision.{row['action']}",
            target_type="policy_decision",
            target_id=row["id"],
            org_id=row["org_id"],
            application_id=row["application_id"],
            outcome=outcome,
            details={
                "decision_id": row["decision_id"],
                "source": row["source"],
                "call_name": row["call_name"][:_MAX_AUDIT_TEXT],
                "agent": row["agent"],
                "end_user": row["end_user"],
                "policy_id": row["policy_id"],
                "policy_name": row["policy_name"],
                "message": (row["message"] or "")[:_MAX_AUDIT_TEXT] or None,
                "trace_id": row["trace_id"],
                "span_id": row["span_id"],
            },
        )


def count(metrics: Metrics, rows: Sequence[EvidenceRow]) -> None:
    for row in rows:
        metrics.policy_decisions.labels(action=row["action"], source=row["source"]).inc()


async def record_span_decisions(
    sessions: async_sessionmaker[AsyncSession], spans: Sequence[SpanRow], metrics: Metrics
) -> int:
    """Record the decisions carried by ingested spans; how many were new."""
    rows = [row for span in spans if (row := from_span(span)) is not None]
    if not rows:
        return 0
    async with transaction(sessions) as session:
        new = await insert(session, rows)
    count(metrics, new)
    return len(new)


def ingest_sink(
    sessions: async_sessionmaker[AsyncSession], metrics: Metrics
) -> Callable[[list[SpanRow]], Awaitable[None]]:
    """The ingest writer: the spans, then the decision evidence they carry.

    Two transactions, because the span store owns its own. Spans go first: they hold the
    `corral.decision.*` attributes themselves, so if recording the evidence rows fails the
    evidence is still stored. Both writes are idempotent, so a batch written again is harmless.
    """

    async def write(rows: list[SpanRow]) -> None:
        await write_spans(sessions, rows)
        await record_span_decisions(sessions, rows, metrics)

    return write
