"""Policies API: CRUD, validation by the engine, filters, optimistic concurrency, batch, posture."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from corral.audit.models import AuditEvent
from corral.container import Container
from corral.governance.models import PolicyVersion
from tests.clients import ApiClient, asgi_client


def policy(name: str = "no shell", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "expression": 'args.command.contains("rm -rf")',
        "action": "block",
        "action_config": {"message": "no deleting"},
        "priority": 10,
        "applies_to": ["tool.shell"],
    }
    return body | overrides


async def create(client: ApiClient, **overrides: Any) -> dict[str, Any]:
    response = await client.post("/api/policies", json=policy(**overrides))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def audit_actions(app: FastAPI) -> list[str]:
    container: Container = app.state.container
    async with container.sessions() as session:
        return list(await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


async def test_create_read_update_delete(owner: ApiClient, app: FastAPI) -> None:
    created = await owner.post("/api/policies", json=policy(description="shell safety"))
    assert created.status_code == 201, created.text
    body = created.json()
    assert created.headers["etag"] == '"1"'
    assert body["id"].startswith("pol_")
    assert body["application_id"] == owner.app_id
    assert (body["version"], body["enabled"], body["shadow"]) == (1, True, False)
    assert body["applies_to"] == ["tool.shell"]

    fetched = await owner.get(f"/api/policies/{body['id']}")
    assert fetched.status_code == 200
    assert fetched.headers["etag"] == '"1"'
    assert fetched.json() == body

    changed = await owner.patch(
        f"/api/policies/{body['id']}", json={"priority": 50, "shadow": True}
    )
    assert changed.status_code == 200, changed.text
    assert changed.headers["etag"] == '"2"'
    assert (changed.json()["priority"], changed.json()["shadow"]) == (50, True)
    assert changed.json()["updated_at"] > body["updated_at"]

    # The same values again store no new version.
    same = await owner.patch(f"/api/policies/{body['id']}", json={"priority": 50})
    assert same.json()["version"] == 2

    deleted = await owner.delete(f"/api/policies/{body['id']}")
    assert deleted.status_code == 204
    missing = await owner.get(f"/api/policies/{body['id']}")
    assert missing.status_code == 404
    assert missing.json()["code"] == "policy_not_found"
    actions = await audit_actions(app)
    assert [a for a in actions if a.startswith("policy.")] == [
        "policy.created",
        "policy.updated",
        "policy.deleted",
    ]


async def test_compile_error_is_400_with_position(owner: ApiClient) -> None:
    expression = 'attrs["gen_ai.tool.name"] == "shell" &&\n  nosuch(args)'
    response = await owner.post("/api/policies", json=policy(expression=expression))
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "policy_invalid"
    [found] = problem["problems"]
    assert found["field"] == "expression"
    # cel-cpp reports a call to an unknown function at its opening parenthesis.
    assert (found["line"], found["column"]) == (2, 9)
    assert expression[found["offset"] :] == "(args)"
    assert "nosuch" in found["message"]

    syntax = await owner.post("/api/policies", json=policy(expression='name == "é" &&'))
    [found] = syntax.json()["problems"]
    assert (found["line"], found["column"], found["offset"]) == (1, 15, 14)

    not_bool = await owner.post("/api/policies", json=policy(expression="name"))
    assert not_bool.status_code == 400
    assert "bool" in not_bool.json()["problems"][0]["message"]
    assert (await owner.get("/api/policies")).json()["data"] == []


async def test_action_config_problems_name_the_key(owner: ApiClient) -> None:
    unknown = await owner.post(
        "/api/policies", json=policy(action_config={"mesage": "typo", "colour": "red"})
    )
    assert unknown.status_code == 400
    keys = {(p["field"], p["key"]) for p in unknown.json()["problems"]}
    assert keys == {("action_config", "mesage"), ("action_config", "colour")}

    throttle = await owner.post(
        "/api/policies",
        json=policy(action="throttle", expression="true", action_config={"max_calls": 0}),
    )
    assert throttle.status_code == 400
    assert {p.get("key") for p in throttle.json()["problems"]} == {"max_calls", "window_seconds"}

    steer = await owner.post("/api/policies", json=policy(action="steer", action_config={}))
    assert steer.json()["problems"] == [
        {"field": "action_config", "key": "replacement", "message": "steer needs a replacement"}
    ]
    pattern = await owner.post("/api/policies", json=policy(applies_to=["tool.sh*"]))
    assert pattern.status_code == 400
    assert pattern.json()["problems"][0]["field"] == "applies_to"


async def test_schema_errors_are_422(owner: ApiClient) -> None:
    for bad in [
        policy(action="explode"),
        policy(priority=10**9),
        policy(name=""),
        policy(expression="x" * 5000),
        policy(applies_to=["tool.*"] * 65),
        policy(action_config={"message": "m" * 20_000}),
        policy(name="nul\x00name"),
        {**policy(), "surprise": 1},
    ]:
        response = await owner.post("/api/policies", json=bad)
        assert response.status_code == 422, (bad, response.text)
    created = await create(owner)
    null = await owner.patch(f"/api/policies/{created['id']}", json={"expression": None})
    assert null.status_code == 422


async def test_names_are_unique_per_application(owner: ApiClient) -> None:
    first = await create(owner, name="dup")
    again = await owner.post("/api/policies", json=policy(name="dup"))
    assert again.status_code == 409
    assert again.json()["code"] == "policy_name_taken"
    other = await create(owner, name="other")
    rename = await owner.patch(f"/api/policies/{other['id']}", json={"name": "dup"})
    assert rename.status_code == 409
    assert (await owner.get(f"/api/policies/{other['id']}")).json()["version"] == 1
    # Another application may use the name.
    second_app = (await owner.post("/api/apps", json={"name": "second"})).json()
    elsewhere = await owner.post(
        "/api/policies", json=policy(name="dup"), headers={"Corral-Application": second_app["id"]}
    )
    assert elsewhere.status_code == 201
    assert elsewhere.json()["id"] != first["id"]


async def test_list_filters_and_pages(owner: ApiClient) -> None:
    made = [
        await create(owner, name="Block shell"),
        await create(owner, name="log everything", action="log", expression="true", applies_to=[]),
        await create(owner, name="shadow block", shadow=True),
        await create(owner, name="off", enabled=False),
        await create(owner, name="100%_literal"),
    ]

    async def names(**params: Any) -> list[str]:
        response = await owner.get("/api/policies", params=params)
        assert response.status_code == 200, response.text
        return [p["name"] for p in response.json()["data"]]

    assert await names() == [p["name"] for p in reversed(made)]
    assert await names(action="log") == ["log everything"]
    assert await names(shadow="true") == ["shadow block"]
    assert await names(enabled="false") == ["off"]
    assert await names(q="SHELL") == ["Block shell"]
    assert await names(q="%_") == ["100%_literal"]
    first = (await owner.get("/api/policies", params={"limit": 2})).json()
    second = (
        await owner.get("/api/policies", params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()
    assert len(first["data"]) == len(second["data"]) == 2
    assert {p["id"] for p in first["data"]}.isdisjoint({p["id"] for p in second["data"]})


async def test_if_match_guards_concurrent_edits(owner: ApiClient) -> None:
    created = await create(owner)
    path = f"/api/policies/{created['id']}"
    first = await owner.patch(path, json={"priority": 1}, headers={"If-Match": '"1"'})
    assert first.status_code == 200
    stale = await owner.patch(path, json={"priority": 2}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.json()["code"] == "version_mismatch"
    assert stale.json()["current_version"] == 2
    assert (await owner.get(path)).json()["priority"] == 1
    assert (
        await owner.patch(path, json={"priority": 3}, headers={"If-Match": "*"})
    ).status_code == 200
    weak = await owner.patch(path, json={"priority": 4}, headers={"If-Match": 'W/"3"'})
    assert weak.status_code == 200
    garbage = await owner.patch(path, json={"priority": 5}, headers={"If-Match": "yesterday"})
    assert garbage.status_code == 412
    refused = await owner.delete(path, headers={"If-Match": '"1"'})
    assert refused.status_code == 412
    assert (await owner.delete(path, headers={"If-Match": '"4"'})).status_code == 204


async def test_a_broken_policy_can_still_be_switched_off(owner: ApiClient, app: FastAPI) -> None:
    created = await create(owner)
    container: Container = app.state.container
    from corral.governance.models import PolicyRecord

    # As if an engine upgrade refused an expression stored earlier.
    async with container.sessions() as session, session.begin():
        record = await session.get(PolicyRecord, created["id"])
        assert record is not None
        record.expression = "this is not CEL ("
    path = f"/api/policies/{created['id']}"
    assert (await owner.patch(path, json={"enabled": False})).status_code == 200
    assert (await owner.patch(path, json={"priority": 3})).status_code == 200
    broken = await owner.patch(path, json={"action": "log"})
    assert broken.status_code == 400
    assert broken.json()["problems"][0]["field"] == "expression"


async def test_versions_diff_and_restore(owner: ApiClient, app: FastAPI) -> None:
    created = await create(owner, expression='args.command.contains("rm -rf")')
    path = f"/api/policies/{created['id']}"
    await owner.patch(path, json={"expression": 'args.command.contains("rm")', "priority": 20})
    await owner.patch(path, json={"enabled": False})

    listing = (await owner.get(f"{path}/versions")).json()["data"]
    assert [v["version"] for v in listing] == [3, 2, 1]
    assert [v["change"] for v in listing] == ["update", "update", "create"]
    assert listing[2]["author"] == {"type": "user", "id": owner.user_id}
    assert listing[2]["snapshot"]["expression"] == 'args.command.contains("rm -rf")'

    one = (await owner.get(f"{path}/versions/1")).json()
    assert one["snapshot"]["priority"] == 10
    assert (await owner.get(f"{path}/versions/9")).json()["code"] == "policy_version_not_found"

    diff = (await owner.get(f"{path}/diff", params={"from": 1, "to": 2})).json()
    assert {c["field"]: (c["before"], c["after"]) for c in diff["changes"]} == {
        "expression": ('args.command.contains("rm -rf")', 'args.command.contains("rm")'),
        "priority": (10, 20),
    }
    assert '-args.command.contains("rm -rf")' in diff["expression_diff"]
    assert '+args.command.contains("rm")' in diff["expression_diff"]
    latest = (await owner.get(f"{path}/diff")).json()
    assert (latest["from_version"], latest["to_version"]) == (2, 3)
    assert latest["expression_diff"] == ""
    assert [c["field"] for c in latest["changes"]] == ["enabled"]

    restored = await owner.post(f"{path}/versions/1/restore", headers={"If-Match": '"3"'})
    assert restored.status_code == 200, restored.text
    assert restored.headers["etag"] == '"4"'
    body = restored.json()
    assert (body["version"], body["priority"], body["enabled"]) == (4, 10, True)
    newest = (await owner.get(f"{path}/versions/4")).json()
    assert (newest["change"], newest["restored_from"]) == ("restore", 1)
    stale = await owner.post(f"{path}/versions/2/restore", headers={"If-Match": '"3"'})
    assert stale.status_code == 412
    assert (await audit_actions(app)).count("policy.restored") == 1


async def test_deleted_policy_keeps_its_history_and_can_be_restored(owner: ApiClient) -> None:
    created = await create(owner)
    path = f"/api/policies/{created['id']}"
    await owner.delete(path)
    history = (await owner.get(f"{path}/versions")).json()["data"]
    assert [(v["version"], v["change"]) for v in history] == [(2, "delete"), (1, "create")]
    back = await owner.post(f"{path}/versions/1/restore")
    assert back.status_code == 200, back.text
    assert (back.json()["id"], back.json()["version"]) == (created["id"], 3)
    assert (await owner.get(path)).status_code == 200

    # A restore refuses a name taken meanwhile.
    await owner.delete(path)
    await create(owner)
    taken = await owner.post(f"{path}/versions/1/restore")
    assert taken.status_code == 409


async def test_versions_are_immutable_rows(owner: ApiClient, app: FastAPI) -> None:
    created = await create(owner)
    await owner.patch(f"/api/policies/{created['id']}", json={"priority": 99})
    container: Container = app.state.container
    async with container.sessions() as session:
        rows = (
            await session.scalars(
                select(PolicyVersion).where(PolicyVersion.policy_id == created["id"])
            )
        ).all()
    assert sorted((r.version, r.snapshot["priority"]) for r in rows) == [(1, 10), (2, 99)]


async def test_batch_is_all_or_nothing(owner: ApiClient, app: FastAPI) -> None:
    a, b, c = [await create(owner, name=n) for n in ("a", "b", "c")]
    disabled = await owner.post(
        "/api/policies/batch", json={"operation": "disable", "ids": [a["id"], b["id"]]}
    )
    assert disabled.status_code == 200, disabled.text
    assert disabled.json() == {"operation": "disable", "ids": [a["id"], b["id"]]}
    enabled = [p["id"] for p in (await owner.get("/api/policies?enabled=true")).json()["data"]]
    assert enabled == [c["id"]]

    unknown = "pol_0000000000000000000000000z"
    refused = await owner.post(
        "/api/policies/batch", json={"operation": "delete", "ids": [c["id"], unknown, "junk"]}
    )
    assert refused.status_code == 404
    assert refused.json()["missing"] == [unknown, "junk"]
    assert (await owner.get(f"/api/policies/{c['id']}")).status_code == 200

    # Already enabled: left out of the result, no new version.
    again = await owner.post(
        "/api/policies/batch", json={"operation": "enable", "ids": [a["id"], c["id"]]}
    )
    assert again.json()["ids"] == [a["id"]]
    assert (await owner.get(f"/api/policies/{c['id']}")).json()["version"] == 1

    gone = await owner.post(
        "/api/policies/batch", json={"operation": "delete", "ids": [a["id"], b["id"], c["id"]]}
    )
    assert gone.json()["ids"] == [a["id"], b["id"], c["id"]]
    assert (await owner.get("/api/policies")).json()["data"] == []
    actions = await audit_actions(app)
    assert actions.count("policy.deleted") == 3
    assert actions.count("policy.disabled") == 2

    too_many = await owner.post(
        "/api/policies/batch", json={"operation": "delete", "ids": [unknown] * 101}
    )
    assert too_many.status_code == 422
    empty = await owner.post("/api/policies/batch", json={"operation": "delete", "ids": []})
    assert empty.status_code == 422


async def test_default_posture(owner: ApiClient, app: FastAPI) -> None:
    assert (await owner.get("/api/policies/settings")).json() == {"default_posture": "allow"}
    changed = await owner.put("/api/policies/settings", json={"default_posture": "deny"})
    assert changed.status_code == 200
    assert (await owner.get("/api/policies/settings")).json() == {"default_posture": "deny"}
    assert (
        await owner.put("/api/policies/settings", json={"default_posture": "maybe"})
    ).status_code == 422
    container: Container = app.state.container
    async with container.sessions() as session:
        event = await session.scalar(
            select(AuditEvent).where(AuditEvent.action == "policy_settings.updated")
        )
    assert event is not None
    assert event.details == {"default_posture": {"before": "allow", "after": "deny"}}
    assert event.application_id == owner.app_id


@pytest.mark.parametrize("scopes", [["policies:read"], ["decisions:write"]])
async def test_writes_need_policies_write(
    owner: ApiClient, app: FastAPI, scopes: list[str]
) -> None:
    existing = await create(owner)
    key = await owner.create_key(scopes)
    async with asgi_client(app, token=key["key"]) as c:
        for method, path, body in [
            ("POST", "/api/policies", policy(name="new")),
            ("PATCH", f"/api/policies/{existing['id']}", {"priority": 1}),
            ("DELETE", f"/api/policies/{existing['id']}", None),
            ("POST", "/api/policies/batch", {"operation": "delete", "ids": [existing["id"]]}),
            ("PUT", "/api/policies/settings", {"default_posture": "deny"}),
            ("POST", f"/api/policies/{existing['id']}/versions/1/restore", None),
        ]:
            response = await c.request(method, path, json=body)
            assert response.status_code == 403, (method, path, response.text)
            assert response.json()["code"] == "missing_scope"
        reads = await c.get("/api/policies")
        assert reads.status_code == (200 if "policies:read" in scopes else 403)


async def test_impersonating_keys_cannot_change_policies(owner: ApiClient, app: FastAPI) -> None:
    end_user = (await owner.post("/api/end-users", json={"external_id": "eu"})).json()
    key = await owner.create_key(["policies:read", "policies:write"])
    headers = {"Corral-End-User": end_user["id"]}
    async with asgi_client(app, token=key["key"]) as c:
        response = await c.post("/api/policies", json=policy(), headers=headers)
        assert response.status_code == 403
        assert response.json()["code"] == "impersonation_forbidden"
        assert (await c.get("/api/policies", headers=headers)).status_code == 200
