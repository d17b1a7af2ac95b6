"""Tenant boundaries of governance: another organization's or application's policies, versions,
decisions and bundle are invisible (404 or absent), and nothing of them can be changed."""

from __future__ import annotations

from fastapi import FastAPI

from tests.api.test_decisions import decide, shell
from tests.api.test_policies import create, policy
from tests.clients import ApiClient, asgi_client


async def test_policies_and_versions_of_another_org(owner: ApiClient, stranger: ApiClient) -> None:
    mine = await create(owner)
    await owner.patch(f"/api/policies/{mine['id']}", json={"priority": 3})
    base = f"/api/policies/{mine['id']}"
    for method, path, body in [
        ("GET", base, None),
        ("PATCH", base, {"priority": 1}),
        ("DELETE", base, None),
        ("GET", f"{base}/versions", None),
        ("GET", f"{base}/versions/1", None),
        ("GET", f"{base}/diff", None),
        ("POST", f"{base}/versions/1/restore", None),
        ("POST", "/api/policies/batch", {"operation": "delete", "ids": [mine["id"]]}),
    ]:
        response = await stranger.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["code"] == "policy_not_found"
    assert (await stranger.get("/api/policies")).json()["data"] == []
    assert (await owner.get(base)).json()["version"] == 2

    # The stranger's policy may carry the same name; the two never meet.
    theirs = await create(stranger)
    assert theirs["id"] != mine["id"]
    both = await stranger.post(
        "/api/policies/batch", json={"operation": "disable", "ids": [theirs["id"], mine["id"]]}
    )
    assert both.status_code == 404
    assert both.json()["missing"] == [mine["id"]]
    assert (await stranger.get(f"/api/policies/{theirs['id']}")).json()["enabled"] is True


async def test_deleted_policy_history_stays_private(owner: ApiClient, stranger: ApiClient) -> None:
    mine = await create(owner)
    await owner.delete(f"/api/policies/{mine['id']}")
    assert (await stranger.get(f"/api/policies/{mine['id']}/versions")).status_code == 404
    restored = await stranger.post(f"/api/policies/{mine['id']}/versions/1/restore")
    assert restored.status_code == 404
    assert (await stranger.get("/api/policies")).json()["data"] == []


async def test_applications_of_one_org_are_separate(owner: ApiClient, app: FastAPI) -> None:
    mine = await create(owner)
    second = (await owner.post("/api/apps", json={"name": "second"})).json()["id"]
    key = await owner.create_key(["policies:read", "policies:write", "decisions:write"])
    other_app = {"Corral-Application": second}
    assert (await owner.get(f"/api/policies/{mine['id']}", headers=other_app)).status_code == 404
    assert (await owner.get("/api/policies", headers=other_app)).json()["data"] == []
    bundle = (await owner.get("/api/policies/bundle", headers=other_app)).json()
    assert (bundle["application_id"], bundle["policies"]) == (second, [])
    # An API key is bound to its application and cannot name another one.
    async with asgi_client(app, token=key["key"]) as c:
        assert (await c.get("/api/policies", headers=other_app)).status_code == 404
        await owner.put(
            "/api/policies/settings", json={"default_posture": "deny"}, headers=other_app
        )
        assert (await c.get("/api/policies/settings")).json() == {"default_posture": "allow"}


async def test_decisions_and_bundles_of_another_org(
    owner: ApiClient, stranger: ApiClient, app: FastAPI
) -> None:
    await create(owner)
    owner_key = await owner.create_key(["decisions:write", "policies:read"])
    stranger_key = await stranger.create_key(["decisions:write", "policies:read"])
    async with (
        asgi_client(app, token=owner_key["key"]) as mine,
        asgi_client(app, token=stranger_key["key"]) as theirs,
    ):
        blocked = await decide(mine, shell("rm -rf /"))
        assert blocked["action"] == "block"
        # Acme's policies never decide the stranger's calls, nor show in its bundle or evidence.
        assert (await decide(theirs, shell("rm -rf /")))["action"] == "allow"
        assert (await theirs.get("/api/policies/bundle")).json()["policies"] == []
        assert (await theirs.get("/api/decisions")).json()["data"] == []
        filtered = await theirs.get("/api/decisions", params={"policy_id": blocked["policy_id"]})
        assert filtered.json()["data"] == []
        # Revisions are per application: the stranger's ETag never matches Acme's bundle.
        etag = (await mine.get("/api/policies/bundle")).headers["etag"]
        response = await theirs.get("/api/policies/bundle", headers={"If-None-Match": etag})
        assert response.status_code == 200
        # A stranger's policy with the same name throttles nothing of Acme's.
        await stranger.post(
            "/api/policies",
            json=policy(
                name="tight",
                action="throttle",
                expression="true",
                applies_to=["tool.*"],
                action_config={"max_calls": 1, "window_seconds": 3600, "scope": "global"},
            ),
        )
        assert (await decide(theirs, shell("ls")))["action"] == "allow"
        assert (await decide(theirs, shell("ls")))["action"] == "throttle"
        assert (await decide(mine, shell("ls")))["action"] == "allow"
    assert len((await owner.get("/api/decisions")).json()["data"]) == 1
