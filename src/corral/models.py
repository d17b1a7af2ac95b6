"""Every table, gathered so that migrations and the drift test see one metadata."""

from __future__ import annotations

from corral.agents.models import Agent, AgentVersion
from corral.audit.models import AuditAnchor, AuditChainHead, AuditEvent
from corral.connections.models import Connection
from corral.core.db import Base
from corral.core.idempotency_models import IdempotencyRecord
from corral.governance.approvals.models import Approval, ApprovalDecision
from corral.governance.budgets.models import Budget, BudgetBucket, BudgetReservation
from corral.governance.halts.models import Halt
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
    MfaBackupCode,
    MfaChallenge,
    Organization,
    PasswordResetToken,
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
    "AuditAnchor",
    "AuditChainHead",
    "AuditEvent",
    "Budget",
    "BudgetBucket",
    "BudgetReservation",
    "Connection",
    "DecisionPolicy",
    "DecisionRecord",
    "EndUser",
    "GovernanceSettings",
    "Halt",
    "IdempotencyRecord",
    "IngestSettings",
    "Invitation",
    "Membership",
    "MfaBackupCode",
    "MfaChallenge",
    "ModelPriceOverride",
    "Organization",
    "PasswordResetToken",
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
