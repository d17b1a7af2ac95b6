"""Schedules API: CRUD, switching on and off, preview, validation naming the field, tenants."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from sqlalchemy import select

from corral.audit.models import AuditEvent
from tests.clients import ApiClient, asgi_client
from tests.traces.support import container_of

INPUT_SCHEMA = {
    "type": "object",
    "properties": {"ticket": {"type": "string"}},
    "required": ["ticket"],
    "additionalProperties": False,
}


def manifest(version: str = "1.0.0", **changes: Any) -> dict[str, Any]:
    return {
        "name": "digest-bot",
        "version": version,
        "description": "Sends the morning digest",
        "input_schema": INPUT_SCHEMA,
        "output_schema": {"type": "object"},
        "model": {"provider": "scripted", "turns": [{"output": {}}]},
        "timeout_seconds": 60,
        **changes,
    }


async def create_agent(client: ApiClient, *, publish: bool = True, **changes: Any) -> str:
    body = {"manifest": manifest(**changes), "prompt": "Write the digest.", "publish": publish}
    response = await client.post("/api/agents", json=body)
    assert response.status_code == 201, response.text
    agent_id: str = response.json()["id"]
    return agent_id


def schedule_body(**changes: Any) -> dict[str, Any]:
    return {
        "name": "morning digest",
        "agent": "digest-bot",
        "cron": "0 9 * * 1-5",
        "timezone": "Europe/Paris",
        "input": {"ticket": "T-1"},
        **changes,
    }


async def create_schedule(client: ApiClient, **changes: Any) -> dict[str, Any]:
    response = await client.post("/api/schedules", json=schedule_body(**changes))
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_create_read_list_delete(owner: ApiClient, app: FastAPI) -> None:
    agent_id = await create_agent(owner)
    before = datetime.now(UTC)
    created = await create_schedule(owner)
    assert created["id"].startswith("sch_")
    assert created["agent_id"] == agent_id
    assert created["agent_version"] is None
    assert created["enabled"] is True
    assert created["end_user_id"] is None
    next_run = instant(created["next_run_at"])
    assert before < next_run <= before + timedelta(days=4)
    paris = next_run.astimezone(ZoneInfo("Europe/Paris"))
    assert (paris.hour, paris.minute, paris.isoweekday() <= 5) == (9, 0, True)

    path = f"/api/schedules/{created['id']}"
    assert (await owner.get(path)).json() == created
    listed = (await owner.get("/api/schedules")).json()
    assert [row["id"] for row in listed["data"]] == [created["id"]]
    by_agent = (await owner.get("/api/schedules", params={"agent": "digest-bot"})).json()
    assert len(by_agent["data"]) == 1
    assert (await owner.get("/api/schedules", params={"agent": "other"})).json()["data"] == []
    assert (await owner.get("/api/schedules", params={"enabled": False})).json()["data"] == []

    assert (await owner.delete(path)).status_code == 204
    assert (await owner.get(path)).status_code == 404
    async with container_of(app).sessions() as session:
        actions = list(
            await session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.target_id == created["id"])
                .order_by(AuditEvent.id)
            )
        )
    assert actions == ["schedule.created", "schedule.deleted"]


async def test_patch_changes_fields_and_recomputes_the_next_window(owner: ApiClient) -> None:
    await create_agent(owner)
    created = await create_schedule(owner)
    path = f"/api/schedules/{created['id']}"
    changed = await owner.patch(path, json={"cron": "30 6 * * *", "timezone": "Asia/Kolkata"})
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["cron"], body["timezone"]) == ("30 6 * * *", "Asia/Kolkata")
    kolkata = instant(body["next_run_at"]).astimezone(ZoneInfo("Asia/Kolkata"))
    assert (kolkata.hour, kolkata.minute) == (6, 30)
    renamed = (await owner.patch(path, json={"name": "renamed", "input": {"ticket": "T-2"}})).json()
    assert (renamed["name"], renamed["input"]) == ("renamed", {"ticket": "T-2"})
    assert renamed["next_run_at"] == body["next_run_at"], "unchanged timing keeps its window"


async def test_disable_and_enable(owner: ApiClient, app: FastAPI) -> None:
    await create_agent(owner)
    created = await create_schedule(owner, enabled=False)
    assert created["next_run_at"] is None
    path = f"/api/schedules/{created['id']}"
    enabled = (await owner.patch(path, json={"enabled": True})).json()
    assert enabled["enabled"] is True
    assert instant(enabled["next_run_at"]) > datetime.now(UTC)
    listed = (await owner.get("/api/schedules", params={"enabled": True})).json()["data"]
    assert [row["id"] for row in listed] == [created["id"]]
    disabled = (await owner.patch(path, json={"enabled": False})).json()
    assert (disabled["enabled"], disabled["next_run_at"]) == (False, None)
    async with container_of(app).sessions() as session:
        actions = list(
            await session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.target_id == created["id"])
                .order_by(AuditEvent.id)
            )
        )
    assert actions == ["schedule.created", "schedule.enabled", "schedule.disabled"]


async def test_preview_lists_fire_times_in_utc_and_local(owner: ApiClient) -> None:
    await create_agent(owner)
    created = await create_schedule(owner, cron="15 8 * * *", enabled=False)
    response = await owner.get(f"/api/schedules/{created['id']}/preview", params={"count": 4})
    assert response.status_code == 200, response.text
    preview = response.json()
    assert (preview["cron"], preview["timezone"]) == ("15 8 * * *", "Europe/Paris")
    times = preview["fire_times"]
    assert len(times) == 4
    for entry in times:
        at, local = instant(entry["at"]), instant(entry["local"])
        assert at.utcoffset() == timedelta(0)
        assert at == local
        assert (local.hour, local.minute) == (8, 15)
        assert local.utcoffset() in (timedelta(hours=1), timedelta(hours=2))
    days = [instant(e["at"]) for e in times]
    day = timedelta(hours=24)
    assert all(abs(b - a - day) <= timedelta(hours=1) for a, b in itertools.pairwise(days))
    assert (await owner.get(f"/api/schedules/{created['id']}/preview?count=0")).status_code == 422
    too_many = await owner.get(f"/api/schedules/{created['id']}/preview?count=101")
    assert too_many.status_code == 422


def error_locations(response: Any) -> set[tuple[Any, ...]]:
    return {tuple(error["loc"]) for error in response.json()["errors"]}


async def test_cron_and_timezone_errors_name_the_field(owner: ApiClient) -> None:
    await create_agent(owner)
    for cron, timezone in [
        ("* * * * * *", "Europe/Paris"),
        ("0 25 * * *", "Europe/Paris"),
        ("0 9 * * *", "Europe/Atlantis"),
    ]:
        response = await owner.post(
            "/api/schedules", json=schedule_body(cron=cron, timezone=timezone)
        )
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "validation_error"
        field = "cron" if timezone == "Europe/Paris" else "timezone"
        assert error_locations(response) == {("body", field)}
    seconds = await owner.post("/api/schedules", json=schedule_body(cron="*/5 * * * * *"))
    assert "once a minute" in seconds.text
    never = await owner.post("/api/schedules", json=schedule_body(cron="0 0 30 2 *"))
    assert never.status_code == 422
    assert (never.json()["code"], never.json()["field"]) == ("cron_never_fires", "cron")


async def test_input_is_checked_against_the_agent_schema(owner: ApiClient) -> None:
    await create_agent(owner)
    wrong = await owner.post("/api/schedules", json=schedule_body(input={"ticket": 7}))
    assert wrong.status_code == 422
    assert (wrong.json()["code"], wrong.json()["field"]) == ("input_invalid", "input")
    assert [e["field"] for e in wrong.json()["errors"]] == ["input/ticket"]
    missing = await owner.post("/api/schedules", json=schedule_body(input={}))
    assert missing.json()["code"] == "input_invalid"
    assert "ticket" in missing.json()["errors"][0]["message"]
    created = await create_schedule(owner)
    patched = await owner.patch(f"/api/schedules/{created['id']}", json={"input": {"extra": 1}})
    assert patched.json()["code"] == "input_invalid"


async def test_agent_and_version_must_exist_and_be_published(owner: ApiClient) -> None:
    unknown = await owner.post("/api/schedules", json=schedule_body(agent="nobody"))
    assert unknown.status_code == 404
    assert (unknown.json()["code"], unknown.json()["field"]) == ("agent_not_found", "agent")
    agent_id = await create_agent(owner, publish=False)
    draft_only = await owner.post("/api/schedules", json=schedule_body(agent=agent_id))
    assert draft_only.status_code == 422
    assert (draft_only.json()["code"], draft_only.json()["field"]) == (
        "agent_not_published",
        "agent",
    )
    no_such_version = await owner.post("/api/schedules", json=schedule_body(agent_version="1.0.0"))
    assert no_such_version.status_code == 404
    assert no_such_version.json()["field"] == "agent_version"
    assert (await owner.post(f"/api/agents/{agent_id}/publish")).status_code == 201
    pinned = await create_schedule(owner, agent_version="1.0.0")
    assert pinned["agent_version"] == "1.0.0"
    unpinned = await owner.patch(f"/api/schedules/{pinned['id']}", json={"agent_version": None})
    assert unpinned.json()["agent_version"] is None


async def test_names_are_unique_and_fields_cannot_be_nulled(owner: ApiClient) -> None:
    await create_agent(owner)
    created = await create_schedule(owner)
    again = await owner.post("/api/schedules", json=schedule_body())
    assert again.status_code == 409
    assert again.json()["code"] == "schedule_name_taken"
    nulled = await owner.patch(f"/api/schedules/{created['id']}", json={"cron": None})
    assert nulled.status_code == 422
    assert error_locations(nulled) == {("body", "cron")}
    unknown_field = await owner.post("/api/schedules", json=schedule_body(every="day"))
    assert unknown_field.status_code == 422


async def test_scopes_are_required(owner: ApiClient, app: FastAPI) -> None:
    await create_agent(owner)
    created = await create_schedule(owner)
    reader = await owner.create_key(["schedules:read"])
    async with asgi_client(app, token=reader["key"]) as c:
        assert (await c.get(f"/api/schedules/{created['id']}")).status_code == 200
        refused = await c.post("/api/schedules", json=schedule_body(name="other"))
        assert refused.status_code == 403
        assert refused.json()["code"] == "missing_scope"
        patch = await c.patch(f"/api/schedules/{created['id']}", json={"enabled": False})
        assert patch.status_code == 403


async def test_an_end_user_key_sees_only_its_own(owner: ApiClient, app: FastAPI) -> None:
    await create_agent(owner)
    app_level = await create_schedule(owner)
    key = await owner.create_key(["end_users:write", "schedules:write", "schedules:read"])
    async with asgi_client(app, token=key["key"]) as c:
        alice = (await c.post("/api/end-users", json={"external_id": "alice"})).json()
        bob = (await c.post("/api/end-users", json={"external_id": "bob"})).json()
        as_alice = {"Corral-End-User": alice["id"]}
        created = await c.post("/api/schedules", json=schedule_body(name="a"), headers=as_alice)
        assert created.status_code == 201, created.text
        assert created.json()["end_user_id"] == alice["id"]
        for_bob = await c.post(
            "/api/schedules", json=schedule_body(name="b", end_user=bob["id"]), headers=as_alice
        )
        assert for_bob.status_code == 404
        assert for_bob.json()["field"] == "end_user"
        listed = (await c.get("/api/schedules", headers=as_alice)).json()["data"]
        assert [row["id"] for row in listed] == [created.json()["id"]]
        hidden = await c.get(f"/api/schedules/{app_level['id']}", headers=as_alice)
        assert hidden.status_code == 404
        as_bob = {"Corral-End-User": bob["id"]}
        theirs = await c.get(f"/api/schedules/{created.json()['id']}", headers=as_bob)
        assert theirs.status_code == 404
        by_app = await c.post("/api/schedules", json=schedule_body(name="c", end_user=bob["id"]))
        assert by_app.json()["end_user_id"] == bob["id"]


async def test_another_tenant_cannot_reach_schedules(owner: ApiClient, stranger: ApiClient) -> None:
    await create_agent(owner)
    mine = await create_schedule(owner)
    path = f"/api/schedules/{mine['id']}"
    for method, payload in [("GET", None), ("PATCH", {"enabled": False}), ("DELETE", None)]:
        response = await stranger.request(method, path, json=payload)
        assert response.status_code == 404, (method, response.text)
        assert response.json()["code"] == "schedule_not_found"
    assert (await stranger.get(f"{path}/preview")).status_code == 404
    assert (await stranger.get("/api/schedules")).json()["data"] == []
    # Another organization's agent is not one the stranger can schedule, by id or name.
    agent_id = mine["agent_id"]
    for reference in (agent_id, "digest-bot"):
        foreign = await stranger.post("/api/schedules", json=schedule_body(agent=reference))
        assert foreign.status_code == 404
        assert foreign.json()["code"] == "agent_not_found"
    assert (await stranger.get("/api/schedules/sch_not-an-id")).status_code == 404
