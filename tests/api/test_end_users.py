"""End-users: CRUD, uniqueness, metadata limits, pagination, and end-user impersonation."""

from __future__ import annotations

from fastapi import FastAPI

from tests.clients import ApiClient, asgi_client


async def test_crud(owner: ApiClient) -> None:
    created = await owner.post(
        "/api/end-users",
        json={
            "external_id": "cust-42",
            "name": "Ada",
            "email": "ada@example.com",
            "metadata": {"plan": "pro"},
        },
    )
    assert created.status_code == 201
    body = created.json()
    assert body["id"].startswith("eu_")
    assert body["application_id"] == owner.app_id
    path = f"/api/end-users/{body['id']}"
    assert (await owner.get(path)).json()["metadata"] == {"plan": "pro"}
    updated = await owner.patch(path, json={"name": "Ada L.", "metadata": {"plan": "team"}})
    assert updated.status_code == 200
    assert (updated.json()["name"], updated.json()["email"]) == ("Ada L.", "ada@example.com")
    assert (await owner.delete(path)).status_code == 204
    assert (await owner.get(path)).status_code == 404


async def test_external_id_is_unique_per_application(owner: ApiClient) -> None:
    assert (await owner.post("/api/end-users", json={"external_id": "dup"})).status_code == 201
    response = await owner.post("/api/end-users", json={"external_id": "dup"})
    assert response.status_code == 409
    assert response.json()["code"] == "external_id_taken"
    second = (await owner.post("/api/apps", json={"name": "other"})).json()
    elsewhere = await owner.post(
        "/api/end-users", json={"external_id": "dup"}, headers={"Corral-Application": second["id"]}
    )
    assert elsewhere.status_code == 201


async def test_metadata_limits(owner: ApiClient) -> None:
    too_big = await owner.post(
        "/api/end-users", json={"external_id": "big", "metadata": {"blob": "x" * 20_000}}
    )
    assert too_big.status_code == 413
    assert too_big.json()["code"] == "metadata_too_large"
    too_many = await owner.post(
        "/api/end-users", json={"external_id": "many", "metadata": {f"k{i}": i for i in range(65)}}
    )
    assert too_many.status_code == 422
    assert too_many.json()["code"] == "metadata_too_many_keys"
    # Nothing half-written: the refused end-users do not exist.
    assert (await owner.get("/api/end-users")).json()["data"] == []


async def test_cursor_pagination_walks_everything_once(owner: ApiClient) -> None:
    ids = [
        (await owner.post("/api/end-users", json={"external_id": f"p{i}"})).json()["id"]
        for i in range(7)
    ]
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await owner.get("/api/end-users", params=params)).json()
        seen.extend(e["id"] for e in page["data"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    bad = await owner.get("/api/end-users", params={"cursor": "!!!"})
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_cursor"


async def test_impersonation_narrows_to_the_end_user(owner: ApiClient, app: FastAPI) -> None:
    alice = (await owner.post("/api/end-users", json={"external_id": "alice"})).json()
    bob = (await owner.post("/api/end-users", json={"external_id": "bob"})).json()
    key = await owner.create_key(["end_users:read", "end_users:write"])
    async with asgi_client(app, token=key["key"]) as c:
        c.headers["Corral-End-User"] = alice["id"]
        listed = (await c.get("/api/end-users")).json()["data"]
        assert [e["id"] for e in listed] == [alice["id"]]
        assert (await c.get(f"/api/end-users/{bob['id']}")).status_code == 404
        assert (await c.patch(f"/api/end-users/{bob['id']}", json={"name": "x"})).status_code == 404
        assert (
            await c.patch(f"/api/end-users/{alice['id']}", json={"name": "Alice"})
        ).status_code == 200
        created = await c.post("/api/end-users", json={"external_id": "carol"})
        assert created.status_code == 403
        assert created.json()["code"] == "impersonation_forbidden"
        me = (await c.get("/api/me")).json()
        assert me["end_user_id"] == alice["id"]


async def test_sessions_may_not_impersonate(owner: ApiClient) -> None:
    alice = (await owner.post("/api/end-users", json={"external_id": "alice"})).json()
    response = await owner.get("/api/end-users", headers={"Corral-End-User": alice["id"]})
    assert response.status_code == 403
    assert response.json()["code"] == "impersonation_forbidden"


async def test_viewer_can_read_but_not_write(owner: ApiClient, app: FastAPI) -> None:
    invitation = (
        await owner.post(
            f"/api/orgs/{owner.org_id}/invitations",
            json={"email": "v@example.com", "role": "viewer"},
        )
    ).json()
    async with asgi_client(app) as viewer:
        await viewer.register("v@example.com", invitation_token=invitation["token"])
        assert (await viewer.get("/api/end-users")).status_code == 200
        response = await viewer.post("/api/end-users", json={"external_id": "nope"})
        assert response.status_code == 403
        assert response.json()["code"] == "missing_permission"


async def test_metadata_that_cannot_be_stored_is_422(owner: ApiClient) -> None:
    response = await owner.post(
        "/api/end-users", json={"external_id": "huge", "metadata": {"n": 2**70}}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_metadata"
