"""The events Corral sends to webhook endpoints; the names are a public contract."""

from __future__ import annotations

from typing import Literal, get_args

WebhookEventType = Literal[
    "run.started",
    "run.succeeded",
    "run.failed",
    "run.timed_out",
    "run.cancelled",
    "policy.alert",
    "policy.blocked",
    "approval.requested",
    "approval.resolved",
    "budget.threshold_reached",
    "budget.exceeded",
    "halt.created",
    "halt.cleared",
]

WEBHOOK_EVENT_TYPES: tuple[str, ...] = get_args(WebhookEventType)

# Sent only on request, to the one endpoint being tried, whatever its event filter.
TEST_EVENT_TYPE = "webhook.test"
