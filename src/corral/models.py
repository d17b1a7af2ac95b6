"""Every table, gathered so that migrations and the drift test see one metadata."""

from __future__ import annotations

from corral.agents.models import Agent, AgentVersion
from corral.audit.models import AuditEvent
from corral.connections.models import Connection
from corral.core.db import Base
from corral.core.idempotency_models import IdempotencyRecord
from corral.governance.approvals.models import Approval, ApprovalDecision
from corral.governance.models import (
    DecisionPolicy,
    DecisionRecord,
    GovernanceSettings,
    PolicyRecord,
    PolicyVersion,
)
from corral.identity.models import (
    ApiKey,
    Application,
    EndUser,
    Invitation,
    Membership,
    Organization,
    User,
    UserSession,
)
from corral.providers.models import ApplicationProvider
from corral.runs.models import Run, RunEvent, Schedule
from corral.traces.models import IngestSettings, ModelPriceOverride, Span, Trace
from corral.webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)

metadata = Base.metadata

__all__ = [
    "Agent",
    "AgentVersion",
    "ApiKey",
    "Approval",
    "ApprovalDecision",
    "Application",
    "ApplicationProvider",
    "AuditEvent",
    "Connection",
    "DecisionPolicy",
    "DecisionRecord",
    "EndUser",
    "GovernanceSettings",
    "IdempotencyRecord",
    "IngestSettings",
    "Invitation",
    "Membership",
    "ModelPriceOverride",
    "Organization",
    "PolicyRecord",
    "PolicyVersion",
    "Run",
    "RunEvent",
    "Schedule",
    "Span",
    "Trace",
    "User",
    "UserSession",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookMessage",
    "metadata",
]
