"""Organizations: roles and permissions, the last owner, ownership transfer, applications."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from tests.clients import ApiClient, asgi_client


@pytest.fixture
async def admin(owner: ApiClient, app: FastAPI) -> AsyncIterator[ApiClient]:
    invitation = (
        await owner.post(
            f"/api/orgs/{owner.org_id}/invitations",
            json={"email": "admin@example.com", "role": "admin"},
        )
    ).json()
    async with asgi_client(app) as c:
        await c.register("admin@example.com", invitation_token=invitation["token"])
        yield c


async def test_members_listing(owner: ApiClient, admin: ApiClient) -> None:
    members = (await owner.get(f"/api/orgs/{owner.org_id}/members")).json()
    assert [(m["email"], m["role"]) for m in members] == [
        ("owner@example.com", "owner"),
        ("admin@example.com", "admin"),
    ]


async def test_admin_cannot_touch_owners(owner: ApiClient, admin: ApiClient) -> None:
    org = owner.org_id
    demote = await admin.patch(f"/api/orgs/{org}/members/{owner.user_id}", json={"role": "viewer"})
    assert demote.status_code == 403
    assert demote.json()["code"] == "owner_required"
    promote = await admin.patch(f"/api/orgs/{org}/members/{admin.user_id}", json={"role": "owner"})
    assert promote.status_code == 403
    delete_org = await admin.delete(f"/api/orgs/{org}")
    assert delete_org.status_code == 403
    assert delete_org.json()["code"] == "missing_permission"


async def test_last_owner_cannot_leave_or_be_demoted(owner: ApiClient) -> None:
    org = owner.org_id
    demote = await owner.patch(f"/api/orgs/{org}/members/{owner.user_id}", json={"role": "admin"})
    assert demote.status_code == 409
    assert demote.json()["code"] == "last_owner"
    leave = await owner.delete(f"/api/orgs/{org}/members/{owner.user_id}")
    assert leave.status_code == 409


async def test_ownership_transfer(owner: ApiClient, admin: ApiClient) -> None:
    org = owner.org_id
    assert (
        await admin.post(f"/api/orgs/{org}/transfer-ownership", json={"user_id": admin.user_id})
    ).status_code == 403
    response = await owner.post(
        f"/api/orgs/{org}/transfer-ownership", json={"user_id": admin.user_id}
    )
    assert response.status_code == 204
    roles = {m["email"]: m["role"] for m in (await owner.get(f"/api/orgs/{org}/members")).json()}
    assert roles == {"owner@example.com": "admin", "admin@example.com": "owner"}
    # Now the former owner may leave; the organization still has an owner.
    assert (await owner.delete(f"/api/orgs/{org}/members/{owner.user_id}")).status_code == 204
    assert (await owner.get(f"/api/orgs/{org}")).status_code == 404


async def test_transfer_to_a_non_member_is_404(owner: ApiClient, stranger: ApiClient) -> None:
    response = await owner.post(
        f"/api/orgs/{owner.org_id}/transfer-ownership", json={"user_id": stranger.user_id}
    )
    assert response.status_code == 404


async def test_applications_crud_and_default_is_protected(owner: ApiClient) -> None:
    created = await owner.post("/api/apps", json={"name": "support-bot", "description": "helps"})
    assert created.status_code == 201
    app_id = created.json()["id"]
    assert (await owner.post("/api/apps", json={"name": "support-bot"})).status_code == 409
    renamed = await owner.patch(f"/api/apps/{app_id}", json={"name": "support"})
    assert renamed.json()["name"] == "support"
    assert (await owner.delete(f"/api/apps/{app_id}")).status_code == 204
    default = await owner.delete(f"/api/apps/{owner.app_id}")
    assert default.status_code == 409
    assert default.json()["code"] == "default_application"


async def test_second_org_and_switching(owner: ApiClient) -> None:
    second = (await owner.post("/api/orgs", json={"name": "Side Project"})).json()
    assert second["role"] == "owner"
    me = (await owner.get("/api/me", headers={"Corral-Organization": second["id"]})).json()
    assert me["org_id"] == second["id"]
    assert me["application_id"] != owner.app_id
    assert {o["name"] for o in (await owner.get("/api/orgs")).json()} == {"Acme", "Side Project"}


async def test_org_rename_and_delete(owner: ApiClient) -> None:
    second = (await owner.post("/api/orgs", json={"name": "Temp"})).json()
    renamed = await owner.patch(f"/api/orgs/{second['id']}", json={"name": "Temporary"})
    assert renamed.json()["name"] == "Temporary"
    assert (await owner.delete(f"/api/orgs/{second['id']}")).status_code == 204
    assert (await owner.get(f"/api/orgs/{second['id']}")).status_code == 404


async def test_already_member_cannot_be_invited(owner: ApiClient, admin: ApiClient) -> None:
    response = await owner.post(
        f"/api/orgs/{owner.org_id}/invitations", json={"email": "admin@example.com"}
    )
    assert response.status_code == 409
    assert response.json()["code"] == "already_member"
