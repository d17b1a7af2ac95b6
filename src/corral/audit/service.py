"""The audit hook every mutation calls, inside the mutation's own transaction.

`record` adds the event to the session; the chain (`chain.py`) gives it its sequence number
and HMAC when the session flushes, so the event commits or rolls back with the change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from corral.audit import chain
from corral.audit.models import AuditEvent
from corral.audit.redact import redact
from corral.core.clock import utcnow
from corral.core.ids import new_id
from corral.core.request_context import Actor

# What came of the action: most events record a change that happened (`success`); enforcement
# decisions record what was refused or held back.
Outcome = Literal[
    "success",
    "failure",
    "denied",
    "blocked",
    "steered",
    "throttled",
    "pending",
    "alerted",
    "logged",
]
_USER_AGENT_CHARS = 256


class _Caller(Protocol):
    @property
    def actor(self) -> Actor: ...


class ApplicationScope(Protocol):
    """Who acts in which application (the identity slice's `AppScope` is one)."""

    @property
    def caller(self) -> _Caller: ...

    @property
    def org_id(self) -> str: ...

    @property
    def application_id(self) -> str: ...


def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    *,
    target_type: str,
    target_id: str | None,
    org_id: str | None,
    application_id: str | None = None,
    details: Mapping[str, Any] | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    outcome: Outcome = "success",
) -> AuditEvent:
    """Add an audit event to the session; it commits or rolls back with the change it records.

    `action` is a stable dotted name (`policy.updated`); `before`/`after` are the object's
    state around the change. Secret-looking keys are redacted from details, before and after.
    """
    user_agent = actor.user_agent[:_USER_AGENT_CHARS] if actor.user_agent else None
    event = AuditEvent(
        id=new_id("aud"),
        chain_id=chain.chain_of(org_id, application_id),
        org_id=org_id,
        application_id=application_id,
        actor_type=actor.kind,
        actor_id=actor.id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        outcome=outcome,
        details=chain.json_value(redact(details)) or {},
        before=chain.json_value(redact(before)),
        after=chain.json_value(redact(after)),
        request_id=actor.request_id,
        ip_address=actor.ip_address,
        user_agent=user_agent,
        created_at=utcnow(),
    )
    session.add(event)
    return event


def record_in_application(
    session: AsyncSession,
    scope: ApplicationScope,
    action: str,
    *,
    target_type: str,
    target_id: str | None,
    details: Mapping[str, Any] | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    outcome: Outcome = "success",
) -> AuditEvent:
    """`record` for a change made by the scope's caller inside the scope's application.

    A caller acting as one of the application's end-users (an API key with the impersonation
    header) stays the actor; the end-user is noted in the details.
    """
    end_user_id: str | None = getattr(scope, "end_user_id", None)
    if end_user_id is not None:
        details = {**(details or {}), "on_behalf_of_end_user": end_user_id}
    return record(
        session,
        scope.caller.actor,
        action,
        target_type=target_type,
        target_id=target_id,
        org_id=scope.org_id,
        application_id=scope.application_id,
        details=details,
        before=before,
        after=after,
        outcome=outcome,
    )
