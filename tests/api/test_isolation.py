"""Tenant boundaries: another organization's or application's objects always answer 404.

Each test sets up Acme (the `owner` fixture) and Other Corp (the `stranger` fixture) and has the
stranger, or a key of another application, try to read and change Acme's objects.
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from tests.clients import ApiClient, asgi_client


async def test_organization_and_members_are_invisible_to_strangers(
    owner: ApiClient, stranger: ApiClient
) -> None:
    org = owner.org_id
    for method, path, body in [
        ("GET", f"/api/orgs/{org}", None),
        ("PATCH", f"/api/orgs/{org}", {"name": "pwned"}),
        ("DELETE", f"/api/orgs/{org}", None),
        ("GET", f"/api/orgs/{org}/members", None),
        ("PATCH", f"/api/orgs/{org}/members/{owner.user_id}", {"role": "viewer"}),
        ("DELETE", f"/api/orgs/{org}/members/{owner.user_id}", None),
        ("POST", f"/api/orgs/{org}/transfer-ownership", {"user_id": stranger.user_id}),
        ("GET", f"/api/orgs/{org}/invitations", None),
        ("POST", f"/api/orgs/{org}/invitations", {"email": "mole@example.org"}),
    ]:
        response = await stranger.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["code"] == "organization_not_found"
    assert [o["id"] for o in (await stranger.get("/api/orgs")).json()] != [org]
    assert (await owner.get(f"/api/orgs/{org}")).json()["name"] == "Acme"


async def test_invitation_of_another_org_cannot_be_revoked(
    owner: ApiClient, stranger: ApiClient
) -> None:
    invitation = (
        await owner.post(f"/api/orgs/{owner.org_id}/invitations", json={"email": "x@example.com"})
    ).json()
    response = await stranger.delete(f"/api/orgs/{stranger.org_id}/invitations/{invitation['id']}")
    assert response.status_code == 404
    assert len((await owner.get(f"/api/orgs/{owner.org_id}/invitations")).json()) == 1


async def test_applications_of_another_org(owner: ApiClient, stranger: ApiClient) -> None:
    app_id = owner.app_id
    assert app_id not in [a["id"] for a in (await stranger.get("/api/apps")).json()]
    assert (await stranger.get(f"/api/apps/{app_id}")).status_code == 404
    assert (await stranger.patch(f"/api/apps/{app_id}", json={"name": "x"})).status_code == 404
    assert (await stranger.delete(f"/api/apps/{app_id}")).status_code == 404
    created = await stranger.post("/api/apps", json={"name": "sneaky", "org_id": owner.org_id})
    assert created.status_code == 404
    # Naming a foreign application in the header must not switch the stranger into it.
    me = await stranger.get("/api/me", headers={"Corral-Application": app_id})
    assert me.status_code == 404
    assert me.json()["code"] == "application_not_found"


async def test_api_keys_of_another_org(owner: ApiClient, stranger: ApiClient) -> None:
    key = await owner.create_key(["end_users:read"])
    assert (await stranger.get(f"/api/api-keys/{key['id']}")).status_code == 404
    assert (await stranger.post(f"/api/api-keys/{key['id']}/rotate")).status_code == 404
    assert (await stranger.delete(f"/api/api-keys/{key['id']}")).status_code == 404
    listed = (await stranger.get("/api/api-keys")).json()["data"]
    assert key["id"] not in [k["id"] for k in listed]
    assert (await owner.get(f"/api/api-keys/{key['id']}")).json()["revoked_at"] is None


async def test_end_users_of_another_org(owner: ApiClient, stranger: ApiClient) -> None:
    end_user = (await owner.post("/api/end-users", json={"external_id": "acme-1"})).json()
    path = f"/api/end-users/{end_user['id']}"
    assert (await stranger.get(path)).status_code == 404
    assert (await stranger.patch(path, json={"name": "x"})).status_code == 404
    assert (await stranger.delete(path)).status_code == 404
    assert (await stranger.get("/api/end-users", params={"external_id": "acme-1"})).json()[
        "data"
    ] == []
    # The same external id is free in another application.
    assert (
        await stranger.post("/api/end-users", json={"external_id": "acme-1"})
    ).status_code == 201


async def test_api_key_is_confined_to_its_application(owner: ApiClient, app: FastAPI) -> None:
    """A key of Acme's second application cannot reach the default application's rows."""
    second = (await owner.post("/api/apps", json={"name": "second"})).json()
    end_user = (await owner.post("/api/end-users", json={"external_id": "in-default"})).json()
    key = (
        await owner.post(
            "/api/api-keys",
            json={
                "name": "second app key",
                "scopes": ["end_users:read", "end_users:write", "api_keys:read"],
            },
            headers={"Corral-Application": second["id"]},
        )
    ).json()
    async with asgi_client(app, token=key["key"]) as c:
        assert (await c.get(f"/api/end-users/{end_user['id']}")).status_code == 404
        assert (await c.get("/api/end-users")).json()["data"] == []
        assert (
            await c.get("/api/me", headers={"Corral-Application": owner.app_id})
        ).status_code == 404
        listed = [k["id"] for k in (await c.get("/api/api-keys")).json()["data"]]
        assert listed == [key["id"]]
        # A key acts on its application only: organization routes are for users.
        response = await c.get(f"/api/orgs/{owner.org_id}")
        assert response.status_code == 403
        assert response.json()["code"] == "user_session_required"


async def test_key_of_another_org_cannot_name_an_acme_end_user(
    owner: ApiClient, stranger: ApiClient, app: FastAPI
) -> None:
    end_user = (await owner.post("/api/end-users", json={"external_id": "acme-2"})).json()
    key = await stranger.create_key(["end_users:read"])
    async with asgi_client(app, token=key["key"]) as c:
        response = await c.get("/api/end-users", headers={"Corral-End-User": end_user["id"]})
    assert response.status_code == 404
    assert response.json()["code"] == "end_user_not_found"


@pytest.mark.parametrize("bogus", ["app_nonexistent", "not-an-id", "app_" + "0" * 26])
async def test_unknown_application_header_is_404(owner: ApiClient, bogus: str) -> None:
    response = await owner.get("/api/end-users", headers={"Corral-Application": bogus})
    assert response.status_code == 404
