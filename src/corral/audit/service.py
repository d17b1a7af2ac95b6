"""The audit hook every mutation calls, inside the mutation's own transaction.

The audit issue turns these rows into an HMAC hash chain; callers will not change.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from corral.audit.models import AuditEvent
from corral.core.request_context import Actor


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
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event to the session; it commits or rolls back with the change it records."""
    event = AuditEvent(
        org_id=org_id,
        application_id=application_id,
        actor_type=actor.kind,
        actor_id=actor.id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        details=details or {},
        request_id=actor.request_id,
        ip_address=actor.ip_address,
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
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """`record` for a change made by the scope's caller inside the scope's application."""
    return record(
        session,
        scope.caller.actor,
        action,
        target_type=target_type,
        target_id=target_id,
        org_id=scope.org_id,
        application_id=scope.application_id,
        details=details,
    )
