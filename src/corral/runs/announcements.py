"""Run lifecycle webhooks (`run.started`, `run.succeeded`, …), queued with the status change."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from corral.runs.models import CANCELLED, FAILED, RUNNING, SUCCEEDED, TIMED_OUT, Run
from corral.webhooks.event_types import WebhookEventType
from corral.webhooks.outbox import emit

_EVENT_OF_STATUS: dict[str, WebhookEventType] = {
    RUNNING: "run.started",
    SUCCEEDED: "run.succeeded",
    FAILED: "run.failed",
    TIMED_OUT: "run.timed_out",
    CANCELLED: "run.cancelled",
}


async def announce(
    session: AsyncSession,
    run: Run,
    status: str,
    *,
    error_code: str | None = None,
    error_message: str | None = None,
    cost_usd: float | None = None,
) -> None:
    """Queue the webhook for `run` entering `status`, in the caller's transaction."""
    event_type = _EVENT_OF_STATUS.get(status)
    if event_type is None:
        return
    data: dict[str, Any] = {
        "run_id": run.id,
        "agent": run.agent_name,
        "status": status,
        "end_user_id": run.end_user_id,
    }
    if error_code is not None:
        data["error"] = {"code": error_code, "message": error_message}
    if cost_usd is not None:
        data["cost_usd"] = cost_usd
    await emit(
        session,
        org_id=run.org_id,
        application_id=run.application_id,
        event_type=event_type,
        data=data,
    )
