"""Every mutation leaves an audit event, written in the same transaction as the change."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import select

from corral.audit.models import AuditEvent
from corral.container import Container
from tests.clients import ApiClient, asgi_client


async def _events(app: FastAPI) -> list[AuditEvent]:
    container: Container = app.state.container
    async with container.sessions() as session:
        return list(await session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


async def test_mutations_are_audited_with_their_actor(owner: ApiClient, app: FastAPI) -> None:
    key = await owner.create_key(["end_users:write", "end_users:read"])
    async with asgi_client(app, token=key["key"]) as c:
        end_user = (await c.post("/api/end-users", json={"external_id": "audited"})).json()
    await owner.patch(f"/api/end-users/{end_user['id']}", json={"name": "A"})
    await owner.post(f"/api/api-keys/{key['id']}/rotate")
    await owner.delete(f"/api/api-keys/{key['id']}")
    await owner.post("/api/apps", json={"name": "second"})
    await owner.post(f"/api/orgs/{owner.org_id}/invitations", json={"email": "x@example.com"})
    async with asgi_client(app) as other:
        await other.login(owner.email, "a wrong password for audit")
    await owner.post("/api/auth/logout")

    events = await _events(app)
    actions = [e.action for e in events]
    for expected in [
        "user.created",
        "org.created",
        "application.created",
        "api_key.created",
        "end_user.created",
        "end_user.updated",
        "api_key.rotated",
        "api_key.revoked",
        "invitation.created",
        "user.login_failed",
        "user.logout",
    ]:
        assert expected in actions, expected
    by_key = next(e for e in events if e.action == "end_user.created")
    assert (by_key.actor_type, by_key.actor_id) == ("api_key", key["id"])
    assert by_key.org_id == owner.org_id
    assert by_key.application_id == owner.app_id
    assert by_key.request_id is not None
    by_user = next(e for e in events if e.action == "end_user.updated")
    assert (by_user.actor_type, by_user.actor_id) == ("user", owner.user_id)


async def test_refused_change_leaves_no_audit_event(owner: ApiClient, app: FastAPI) -> None:
    before = len(await _events(app))
    await owner.post("/api/end-users", json={"external_id": "dup"})
    refused = await owner.post("/api/end-users", json={"external_id": "dup"})
    assert refused.status_code == 409
    after = [e.action for e in await _events(app)][before:]
    assert after == ["end_user.created"]
