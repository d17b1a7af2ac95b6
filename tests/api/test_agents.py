"""Agents API: packages, the draft, forward-only versions, zip exchange, tenant boundaries."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import orjson
from fastapi import FastAPI
from sqlalchemy import select

from corral.audit.models import AuditEvent
from tests.clients import ApiClient, asgi_client
from tests.traces.support import container_of

ZIP = {"Content-Type": "application/zip"}


def manifest(version: str = "1.0.0", **changes: Any) -> dict[str, Any]:
    return {
        "name": "triage-bot",
        "version": version,
        "description": "Sorts tickets",
        "input_schema": {
            "type": "object",
            "properties": {"ticket": {"type": "string"}},
            "required": ["ticket"],
        },
        "output_schema": {"type": "object", "properties": {"queue": {"type": "string"}}},
        "model": {"provider": "scripted", "turns": [{"output": {"queue": "billing"}}]},
        "tools": [
            {"name": "lookup", "type": "http", "method": "GET", "url": "https://api.example.com/x"}
        ],
        "skills": [{"name": "tone", "instructions": "Be brief."}],
        "timeout_seconds": 60,
        **changes,
    }


async def create(client: ApiClient, **body: Any) -> dict[str, Any]:
    payload = {"manifest": manifest(), "prompt": "# Triage\nRoute the ticket.", **body}
    response = await client.post("/api/agents", json=payload)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def package(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


async def test_create_publishes_the_first_version(owner: ApiClient) -> None:
    agent = await create(owner)
    assert agent["id"].startswith("agt_")
    assert agent["latest_version"] == "1.0.0"
    assert agent["draft"]["prompt"].startswith("# Triage")
    assert agent["draft"]["manifest"]["resources"] == {
        "memory_mb": None,
        "cpu_seconds": None,
        "max_processes": None,
    }
    by_name = (await owner.get("/api/agents/triage-bot")).json()
    assert by_name["id"] == agent["id"]
    versions = (await owner.get(f"/api/agents/{agent['id']}/versions")).json()["data"]
    assert [v["version"] for v in versions] == ["1.0.0"]
    whole = (await owner.get("/api/agents/triage-bot/versions/1.0.0")).json()
    assert whole["manifest"] == agent["draft"]["manifest"]
    assert len(whole["digest"]) == 64


async def test_a_draft_can_be_kept_unpublished(owner: ApiClient) -> None:
    agent = await create(owner, publish=False)
    assert agent["latest_version"] is None
    assert (await owner.get(f"/api/agents/{agent['id']}/versions")).json()["data"] == []


async def test_versions_only_go_forward(owner: ApiClient) -> None:
    agent = await create(owner)
    base = f"/api/agents/{agent['id']}"
    same = await owner.put(f"{base}/draft", json={"manifest": manifest(), "prompt": "edited"})
    assert same.status_code == 200
    refused = await owner.post(f"{base}/publish")
    assert refused.status_code == 409
    assert refused.json()["code"] == "version_not_forward"
    assert refused.json()["latest_version"] == "1.0.0"

    await owner.put(f"{base}/draft", json={"manifest": manifest("1.0.0-rc.1"), "prompt": "p"})
    assert (await owner.post(f"{base}/publish")).json()["code"] == "version_not_forward"

    await owner.put(f"{base}/draft", json={"manifest": manifest("1.10.0"), "prompt": "new"})
    published = await owner.post(f"{base}/publish")
    assert published.status_code == 201, published.text
    assert published.json()["version"] == "1.10.0"
    await owner.put(f"{base}/draft", json={"manifest": manifest("1.9.0"), "prompt": "old"})
    assert (await owner.post(f"{base}/publish")).status_code == 409

    versions = (await owner.get(f"{base}/versions")).json()["data"]
    assert [v["version"] for v in versions] == ["1.10.0", "1.0.0"]
    first = (await owner.get(f"{base}/versions/1.0.0")).json()
    assert first["prompt"] == "# Triage\nRoute the ticket."


async def test_validation_errors_name_the_field(owner: ApiClient) -> None:
    bad = manifest(input_schema={"type": "nope"}, version="one")
    response = await owner.post("/api/agents", json={"manifest": bad, "prompt": "x"})
    assert response.status_code == 422
    locations = {tuple(e["loc"]) for e in response.json()["errors"]}
    assert ("body", "manifest", "input_schema") in locations
    assert ("body", "manifest", "version") in locations


async def test_names_are_unique_and_fixed(owner: ApiClient) -> None:
    agent = await create(owner)
    again = await owner.post("/api/agents", json={"manifest": manifest(), "prompt": "x"})
    assert again.status_code == 409
    assert again.json()["code"] == "agent_name_taken"
    renamed = manifest("2.0.0", name="other-bot")
    response = await owner.put(
        f"/api/agents/{agent['id']}/draft", json={"manifest": renamed, "prompt": "x"}
    )
    assert response.json()["code"] == "agent_name_mismatch"


async def test_zip_round_trip(owner: ApiClient) -> None:
    agent = await create(owner)
    exported = await owner.get(f"/api/agents/{agent['id']}/export?version=1.0.0")
    assert exported.status_code == 200
    assert exported.headers["content-type"] == "application/zip"
    assert "triage-bot-1.0.0.zip" in exported.headers["content-disposition"]
    again = await owner.get(f"/api/agents/{agent['id']}/export?version=1.0.0")
    assert again.content == exported.content

    with zipfile.ZipFile(io.BytesIO(exported.content)) as archive:
        assert sorted(archive.namelist()) == ["manifest.json", "prompt.md"]
        stored = orjson.loads(archive.read("manifest.json"))
    stored["version"] = "1.1.0"
    bumped = package({"bot/manifest.json": orjson.dumps(stored), "bot/prompt.md": b"v1.1"})
    imported = await owner.post("/api/agents/import?publish=true", content=bumped, headers=ZIP)
    assert imported.status_code == 200, imported.text
    result = imported.json()
    assert result["created"] is False
    assert result["published_version"] == "1.1.0"
    assert result["agent"]["draft"]["prompt"] == "v1.1"


async def test_import_creates_a_new_agent_as_a_draft(owner: ApiClient) -> None:
    body = package({"manifest.json": orjson.dumps(manifest(name="fresh")), "prompt.md": b"hello"})
    imported = await owner.post("/api/agents/import", content=body, headers=ZIP)
    assert imported.status_code == 200, imported.text
    assert imported.json()["created"] is True
    assert imported.json()["agent"]["latest_version"] is None


async def test_hostile_packages_are_refused(owner: ApiClient) -> None:
    good_manifest = orjson.dumps(manifest())
    cases: list[tuple[bytes, int, str]] = [
        (b"not a zip", 422, "package_invalid"),
        (package({"manifest.json": good_manifest}), 422, "package_invalid"),
        (
            package({"manifest.json": good_manifest, "prompt.md": b"x", "../../etc/x": b""}),
            422,
            "package_invalid",
        ),
        (package({"manifest.json": b"{", "prompt.md": b"x"}), 422, "package_invalid"),
        (
            package({"manifest.json": good_manifest, "prompt.md": b"\xff\xfe"}),
            422,
            "package_invalid",
        ),
        # A zip bomb: a few KB that claim to inflate to 20 MB.
        (
            package({"manifest.json": good_manifest, "prompt.md": b"\x00" * 20_000_000}),
            413,
            "package_too_large",
        ),
    ]
    for body, status, code in cases:
        response = await owner.post("/api/agents/import", content=body, headers=ZIP)
        assert response.status_code == status, (code, response.text)
        assert response.json()["code"] == code
    invalid = package({"manifest.json": orjson.dumps(manifest(version="x")), "prompt.md": b"x"})
    response = await owner.post("/api/agents/import", content=invalid, headers=ZIP)
    assert response.json()["code"] == "manifest_invalid"
    assert ["manifest", "version"] in [e["loc"] for e in response.json()["errors"]]
    wrong_type = await owner.post(
        "/api/agents/import", content=b"{}", headers={"Content-Type": "application/json"}
    )
    assert wrong_type.status_code == 415
    assert (await owner.get("/api/agents")).json()["data"] == []


async def test_list_filters_and_deletes(owner: ApiClient) -> None:
    await create(owner)
    other = await create(owner, manifest=manifest(name="billing-bot"))
    listed = (await owner.get("/api/agents?q=billing")).json()["data"]
    assert [a["name"] for a in listed] == ["billing-bot"]
    assert (await owner.delete(f"/api/agents/{other['id']}")).status_code == 204
    assert (await owner.get(f"/api/agents/{other['id']}")).status_code == 404
    assert (await owner.get(f"/api/agents/{other['id']}/versions/1.0.0")).status_code == 404


async def test_changes_are_audited(owner: ApiClient, app: FastAPI) -> None:
    agent = await create(owner)
    await owner.delete(f"/api/agents/{agent['id']}")
    async with container_of(app).sessions() as session:
        actions = list(
            await session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.target_id == agent["id"])
                .order_by(AuditEvent.id)
            )
        )
    assert actions == ["agent.created", "agent.published", "agent.deleted"]


async def test_another_tenant_cannot_reach_agents(owner: ApiClient, stranger: ApiClient) -> None:
    mine = await create(owner)
    base = f"/api/agents/{mine['id']}"
    for method, path, body in [
        ("GET", base, None),
        ("GET", "/api/agents/triage-bot", None),
        ("PUT", f"{base}/draft", {"manifest": manifest("9.0.0"), "prompt": "x"}),
        ("POST", f"{base}/publish", None),
        ("DELETE", base, None),
        ("GET", f"{base}/versions", None),
        ("GET", f"{base}/versions/1.0.0", None),
        ("GET", f"{base}/export", None),
    ]:
        response = await stranger.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.text)
    assert (await stranger.get("/api/agents")).json()["data"] == []
    # The same name in another organization is another agent.
    theirs = await create(stranger)
    assert theirs["id"] != mine["id"]
    assert (await owner.get(base)).json()["latest_version"] == "1.0.0"


async def test_keys_need_agent_scopes_and_end_users_cannot_write(
    owner: ApiClient, app: FastAPI
) -> None:
    reader = await owner.create_key(["agents:read"])
    async with asgi_client(app, token=reader["key"]) as c:
        assert (await c.get("/api/agents")).status_code == 200
        refused = await c.post("/api/agents", json={"manifest": manifest(), "prompt": "x"})
        assert refused.status_code == 403
    writer = await owner.create_key(["agents:read", "agents:write", "end_users:write"])
    async with asgi_client(app, token=writer["key"]) as c:
        end_user = (await c.post("/api/end-users", json={"external_id": "u1"})).json()
        refused = await c.post(
            "/api/agents",
            json={"manifest": manifest(), "prompt": "x"},
            headers={"Corral-End-User": end_user["id"]},
        )
        assert refused.status_code == 403
        assert refused.json()["code"] == "impersonation_forbidden"
