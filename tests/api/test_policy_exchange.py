"""Export, import and the SDK bundle (contract 1 of BRIEF.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import yaml
from fastapi import FastAPI

from corral.api.app import create_app
from tests.api.test_policies import audit_actions, create, policy
from tests.clients import ApiClient, asgi_client
from tests.conftest import make_settings

YAML = {"Content-Type": "application/yaml"}
JSON = {"Content-Type": "application/json"}


def _yaml(document: Any) -> bytes:
    return yaml.safe_dump(document, sort_keys=False).encode()


async def test_export_round_trips_through_import(owner: ApiClient) -> None:
    await create(owner, name="no shell", description="multi\nline")
    await create(owner, name="steer", action="steer", action_config={"replacement": {"ok": 1}})
    exported = await owner.get("/api/policies/export")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/yaml")
    assert "policies.yaml" in exported.headers["content-disposition"]
    document = yaml.safe_load(exported.text)
    assert document["format"] == "corral.policies/v1"
    assert [p["name"] for p in document["policies"]] == ["no shell", "steer"]
    assert "id" not in document["policies"][0]
    as_json = (await owner.get("/api/policies/export", params={"format": "json"})).json()
    assert as_json == document

    # Into another application: everything is created, then a second import changes nothing.
    second = (await owner.post("/api/apps", json={"name": "second"})).json()["id"]
    target = {"Corral-Application": second}
    first = await owner.post(
        "/api/policies/import", content=exported.content, headers={**YAML, **target}
    )
    assert first.status_code == 200, first.text
    result = first.json()
    assert [(p["index"], p["name"]) for p in result["created"]] == [(0, "no shell"), (1, "steer")]
    assert all(p["id"].startswith("pol_") for p in result["created"])
    again = await owner.post(
        "/api/policies/import", content=orjson.dumps(as_json), headers={**JSON, **target}
    )
    assert [p["name"] for p in again.json()["unchanged"]] == ["no shell", "steer"]
    copied = (await owner.get("/api/policies/export", headers=target)).text
    assert yaml.safe_load(copied) == document
    versions = await owner.get(
        f"/api/policies/{result['created'][0]['id']}/versions", headers=target
    )
    assert [v["change"] for v in versions.json()["data"]] == ["import"]


async def test_import_merge_replace_and_dry_run(owner: ApiClient, app: FastAPI) -> None:
    kept = await create(owner, name="kept")
    changed = await create(owner, name="changed")
    dropped = await create(owner, name="dropped")
    items = [
        policy(name="changed", priority=99),
        policy(name="kept"),
        policy(name="fresh", action="log", expression="true"),
    ]
    dry = await owner.post(
        "/api/policies/import",
        params={"mode": "replace", "dry_run": "true"},
        content=_yaml({"policies": items}),
        headers=YAML,
    )
    assert dry.status_code == 200, dry.text
    plan = dry.json()
    assert plan["dry_run"] is True
    assert plan["created"] == [{"index": 2, "name": "fresh", "id": None}]
    assert plan["updated"] == [{"index": 0, "name": "changed", "id": changed["id"]}]
    assert plan["unchanged"] == [{"index": 1, "name": "kept", "id": kept["id"]}]
    assert plan["deleted"] == [{"index": None, "name": "dropped", "id": dropped["id"]}]
    names = {p["name"] for p in (await owner.get("/api/policies")).json()["data"]}
    assert names == {"kept", "changed", "dropped"}

    merged = await owner.post("/api/policies/import", content=orjson.dumps(items), headers=JSON)
    assert merged.json()["deleted"] == []
    assert (await owner.get(f"/api/policies/{changed['id']}")).json()["priority"] == 99
    assert (await owner.get(f"/api/policies/{dropped['id']}")).status_code == 200

    replaced = await owner.post(
        "/api/policies/import", params={"mode": "replace"}, content=_yaml(items), headers=YAML
    )
    assert [p["name"] for p in replaced.json()["deleted"]] == ["dropped"]
    assert (await owner.get(f"/api/policies/{dropped['id']}")).status_code == 404
    assert (await owner.get(f"/api/policies/{kept['id']}")).json()["version"] == 1
    assert (await audit_actions(app)).count("policy.imported") == 2


async def test_import_checks_everything_before_writing(owner: ApiClient) -> None:
    items: list[Any] = [
        policy(name="fine"),
        policy(name="bad cel", expression="name ==\n  )"),
        "not an object",
        policy(name="fine"),
        {"name": "no expression", "action": "block"},
        policy(name="bad config", action_config={"colour": "red"}),
    ]
    response = await owner.post("/api/policies/import", content=_yaml(items), headers=YAML)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "policy_invalid"
    by_index: dict[int, list[dict[str, Any]]] = {}
    for problem in body["problems"]:
        by_index.setdefault(problem["index"], []).append(problem)
    assert sorted(by_index) == [1, 2, 3, 4, 5]
    [cel] = by_index[1]
    assert (cel["field"], cel["line"], cel["column"], cel["name"]) == (
        "expression",
        2,
        3,
        "bad cel",
    )
    assert "more than once" in by_index[3][0]["message"]
    assert by_index[4][0]["field"] == "expression"
    assert by_index[5][0]["key"] == "colour"
    assert (await owner.get("/api/policies")).json()["data"] == []


async def test_import_refuses_unreadable_documents(owner: ApiClient) -> None:
    async def post(content: bytes, headers: dict[str, str]) -> dict[str, Any]:
        response = await owner.post("/api/policies/import", content=content, headers=headers)
        body: dict[str, Any] = response.json()
        body["status"] = response.status_code
        return body

    broken = await post(b"policies:\n  - name: [unclosed\n", YAML)
    assert (broken["status"], broken["code"]) == (400, "malformed_document")
    assert broken["problems"][0]["line"] == 3
    bomb = b"a: &a [x, x]\nb: &b [*a, *a]\npolicies: [*b]\n"
    aliases = await post(bomb, YAML)
    assert (aliases["status"], aliases["code"]) == (400, "malformed_document")
    assert "alias" in aliases["detail"]
    tagged = await post(b"policies: !!python/object/apply:os.system ['true']\n", YAML)
    assert (tagged["status"], tagged["code"]) == (400, "malformed_document")
    assert (await post(b"{not json", JSON))["code"] == "malformed_document"
    assert (await post(b'{"policies": 3}', JSON))["code"] == "malformed_document"
    wrong_type = await post(b"<policies/>", {"Content-Type": "application/xml"})
    assert (wrong_type["status"], wrong_type["code"]) == (415, "unsupported_media_type")
    too_many = await post(_yaml([policy(name=f"p{i}") for i in range(501)]), YAML)
    assert (too_many["status"], too_many["code"]) == (413, "too_many_policies")
    assert (await owner.get("/api/policies")).json()["data"] == []


async def test_oversized_import_body_is_413(tmp_path: Path, database_url: str) -> None:
    application = create_app(make_settings(tmp_path, database_url, max_request_bytes=4096))
    async with application.router.lifespan_context(application), asgi_client(application) as c:
        await c.register("big@example.com", org="Big")
        big = _yaml([policy(name=f"p{i}", description="d" * 100) for i in range(40)])
        response = await c.post("/api/policies/import", content=big, headers=YAML)
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


async def test_bundle_contract(owner: ApiClient, app: FastAPI) -> None:
    key = await owner.create_key(["policies:read"])
    enabled = await create(owner, name="on", priority=5, shadow=True)
    await create(owner, name="off", enabled=False)
    top = await create(owner, name="top", priority=50, action="log", expression="true")
    async with asgi_client(app, token=key["key"]) as sdk:
        response = await sdk.get("/api/policies/bundle")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        assert response.headers["cache-control"] == "no-cache"
        bundle = response.json()
        etag = response.headers["etag"]
        assert etag == f'"{bundle["revision"]}"'
        assert set(bundle) == {
            "application_id",
            "revision",
            "default_posture",
            "policies",
            "generated_at",
        }
        assert bundle["application_id"] == owner.app_id
        assert bundle["default_posture"] == "allow"
        assert bundle["generated_at"].endswith("Z")
        assert [p["id"] for p in bundle["policies"]] == [top["id"], enabled["id"]]
        assert bundle["policies"][1] == {
            "id": enabled["id"],
            "name": "on",
            "expression": enabled["expression"],
            "action": "block",
            "action_config": {"message": "no deleting"},
            "priority": 5,
            "applies_to": ["tool.shell"],
            "enabled": True,
            "shadow": True,
        }

        same = await sdk.get("/api/policies/bundle")
        assert same.content == response.content
        cached = await sdk.get("/api/policies/bundle", headers={"If-None-Match": etag})
        assert cached.status_code == 304
        assert cached.content == b""
        assert cached.headers["etag"] == etag
        listed = await sdk.get("/api/policies/bundle", headers={"If-None-Match": f'"x", {etag}'})
        assert listed.status_code == 304

        await owner.put("/api/policies/settings", json={"default_posture": "deny"})
        after_posture = await sdk.get("/api/policies/bundle", headers={"If-None-Match": etag})
        assert after_posture.status_code == 200
        assert after_posture.json()["default_posture"] == "deny"
        assert after_posture.headers["etag"] != etag

        await owner.patch(f"/api/policies/{top['id']}", json={"enabled": False})
        after_change = (await sdk.get("/api/policies/bundle")).json()
        assert [p["id"] for p in after_change["policies"]] == [enabled["id"]]

    no_scope = await owner.create_key(["decisions:write"])
    async with asgi_client(app, token=no_scope["key"]) as c:
        assert (await c.get("/api/policies/bundle")).status_code == 403


async def test_bundle_of_an_application_without_policies(owner: ApiClient) -> None:
    response = await owner.get("/api/policies/bundle")
    assert response.status_code == 200
    body = response.json()
    assert (body["policies"], body["default_posture"]) == ([], "allow")
    assert response.headers["etag"] == f'"{body["revision"]}"'
