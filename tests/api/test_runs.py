"""Runs API without execution: creation, validation, gates, reads, logs, cancel, tenancy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from corral.api.app import create_app
from tests.api.test_agents import manifest
from tests.clients import ApiClient, asgi_client
from tests.conftest import make_settings

PROMPT = "# Triage\nRoute the ticket."


async def installed(client: ApiClient, **changes: Any) -> dict[str, Any]:
    response = await client.post(
        "/api/agents", json={"manifest": manifest(**changes), "prompt": PROMPT}
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def start(client: ApiClient, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
    response = await client.post("/api/runs", json=body)
    assert response.status_code == status, response.text
    data: dict[str, Any] = response.json()
    return data


async def test_a_run_of_an_installed_agent_is_queued_with_its_first_event(
    owner: ApiClient,
) -> None:
    agent = await installed(owner)
    run = await start(owner, {"agent": agent["name"], "input": {"ticket": "refund"}})
    assert run["id"].startswith("run_")
    assert run["status"] == "queued"
    assert run["agent_id"] == agent["id"]
    assert run["agent_version"] == "1.0.0"
    assert run["input"] == {"ticket": "refund"}
    assert run["output"] is None
    assert run["error"] is None
    assert run["cost_usd"] == 0.0
    assert len(run["trace_id"]) == 32
    logs = (await owner.get(f"/api/runs/{run['id']}/logs")).json()
    assert [(e["seq"], e["kind"], e["data"]) for e in logs["data"]] == [
        (1, "status", {"status": "queued"})
    ]
    assert logs["next_cursor"] == 1
    assert logs["terminal"] is False
    listed = (await owner.get("/api/runs")).json()
    assert [r["id"] for r in listed["data"]] == [run["id"]]


async def test_input_is_checked_against_the_schema_and_errors_name_the_field(
    owner: ApiClient,
) -> None:
    agent = await installed(owner)
    refused = await start(owner, {"agent": agent["id"], "input": {"ticket": 3}}, 422)
    assert refused["code"] == "input_invalid"
    assert refused["errors"][0]["field"] == "input/ticket"
    missing = await start(owner, {"agent": agent["id"], "input": {}}, 422)
    assert missing["code"] == "input_invalid"


async def test_versions_and_the_draft_can_be_run(owner: ApiClient) -> None:
    agent = await installed(owner)
    draft = await start(owner, {"agent": agent["id"], "version": "draft", "input": {"ticket": "x"}})
    assert draft["agent_version"] == "draft"
    unknown = await start(owner, {"agent": agent["id"], "version": "9.9.9", "input": {}}, 404)
    assert unknown["code"] == "agent_version_not_found"
    nobody = await start(owner, {"agent": "no-such-agent", "input": {}}, 404)
    assert nobody["code"] == "agent_not_found"
    both = await start(owner, {"input": {}}, 422)
    assert both["code"] == "validation_error"


async def test_an_inline_run_is_validated_and_frozen(owner: ApiClient) -> None:
    body = {"inline": {"manifest": manifest(), "prompt": PROMPT}, "input": {"ticket": "a"}}
    run = await start(owner, body)
    assert run["inline"] is True
    assert run["agent_id"] is None
    assert run["agent_name"] == "triage-bot"
    broken = manifest()
    broken["timeout_seconds"] = "soon"
    refused = await start(owner, {"inline": {"manifest": broken, "prompt": PROMPT}}, 422)
    assert refused["code"] == "invalid_manifest"
    assert refused["errors"][0]["field"] == "inline.manifest.timeout_seconds"


async def test_reserved_tool_names_are_refused(owner: ApiClient) -> None:
    tools = [{"name": "output", "type": "http", "url": "https://api.example.com/"}]
    refused = await start(
        owner, {"inline": {"manifest": manifest(tools=tools), "prompt": PROMPT}}, 422
    )
    assert "reserved" in refused["detail"]


@pytest.fixture
async def limited(tmp_path: Path, database_url: str) -> Any:
    settings = make_settings(
        tmp_path,
        database_url,
        runs={
            "worker_in_server": False,
            "sidecar_pool_size": 0,
            "platform_run_limits": {
                "max_concurrent_per_org": 3,
                "per_org_global_rate_per_min": 5,
                "timeout_ceiling_seconds": 120,
                "memory_mb_ceiling": 1024,
            },
            "inline_run_limits": {
                "rate_per_min": 2,
                "manifest_bytes": 4000,
                "prompt_bytes": 100,
                "max_skills": 1,
                "max_tools": 1,
                "max_authorized_uris": 1,
            },
        },
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application), asgi_client(application) as c:
        await c.register("owner@example.com", org="Acme")
        yield c


async def test_inline_limits_answer_with_stable_codes(limited: ApiClient) -> None:
    def inline(prompt: str = "short", **changes: Any) -> dict[str, Any]:
        return {
            "inline": {"manifest": manifest(**changes), "prompt": prompt},
            "input": {"ticket": "t"},
        }

    too_long = await start(limited, inline(prompt="x" * 101), 413)
    assert too_long["code"] == "inline_prompt_too_large"
    big = await start(
        limited,
        inline(description="d" * 1900, skills=[{"name": "a", "instructions": "b" * 2000}]),
        413,
    )
    assert big["code"] == "inline_manifest_too_large"
    skills = [{"name": "a", "instructions": "x"}, {"name": "b", "instructions": "y"}]
    assert (await start(limited, inline(skills=skills), 422))["code"] == "inline_too_many_skills"
    tools = [
        {"name": "a", "type": "http", "url": "https://api.example.com/a"},
        {"name": "b", "type": "http", "url": "https://api.example.com/b"},
    ]
    assert (await start(limited, inline(tools=tools), 422))["code"] == "inline_too_many_tools"
    open_host = [{"name": "a", "type": "http", "url": "https://{host}/a"}]
    wildcard = await start(limited, inline(tools=open_host), 422)
    assert wildcard["code"] == "inline_wildcard_uri"
    slow = await start(limited, inline(timeout_seconds=121), 422)
    assert slow["code"] == "timeout_over_ceiling"
    hungry = await start(limited, inline(resources={"memory_mb": 2048}), 422)
    assert hungry["code"] == "resources_over_ceiling"
    # None of the refusals spent the inline rate: two inline runs still pass, the third does not.
    await start(limited, inline())
    await start(limited, inline())
    throttled = await limited.post("/api/runs", json=inline())
    assert throttled.status_code == 429
    assert throttled.json()["code"] == "inline_run_rate_exceeded"
    assert float(throttled.headers["Retry-After"]) > 0


async def test_organization_concurrency_and_rate(limited: ApiClient) -> None:
    agent = await installed(limited)
    body = {"agent": agent["id"], "input": {"ticket": "t"}}
    runs = [await start(limited, body) for _ in range(3)]
    full = await start(limited, body, 429)
    assert full["code"] == "org_concurrency_exceeded"
    # A cancelled run frees its place; the organization's per-minute rate then runs out.
    await limited.post(f"/api/runs/{runs[0]['id']}/cancel")
    await start(limited, body)
    await limited.post(f"/api/runs/{runs[1]['id']}/cancel")
    await limited.post(f"/api/runs/{runs[2]['id']}/cancel")
    await start(limited, body)
    rate = await start(limited, body, 429)
    assert rate["code"] == "org_run_rate_exceeded"


async def test_unknown_limit_keys_fail_boot(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_concurent_per_org"):
        make_settings(tmp_path, None, runs={"platform_run_limits": {"max_concurent_per_org": 1}})
    with pytest.raises(ValueError, match="rate_per_minute"):
        make_settings(tmp_path, None, runs={"inline_run_limits": {"rate_per_minute": 1}})


async def test_cancel_of_a_queued_run_ends_it_at_once(owner: ApiClient) -> None:
    agent = await installed(owner)
    run = await start(owner, {"agent": agent["id"], "input": {"ticket": "t"}})
    cancelled = await owner.post(f"/api/runs/{run['id']}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["error"]["code"] == "cancelled"
    again = await owner.post(f"/api/runs/{run['id']}/cancel")
    assert again.json()["status"] == "cancelled"
    waited = await owner.get(f"/api/runs/{run['id']}?wait=5")
    assert waited.json()["status"] == "cancelled"
    logs = (await owner.get(f"/api/runs/{run['id']}/logs")).json()
    assert [e["data"]["status"] for e in logs["data"]] == ["queued", "cancelled"]
    assert logs["terminal"] is True


async def test_wait_returns_the_run_as_it_is_after_the_wait(owner: ApiClient) -> None:
    agent = await installed(owner)
    run = await start(owner, {"agent": agent["id"], "input": {"ticket": "t"}})
    waited = await owner.get(f"/api/runs/{run['id']}?wait=0.2")
    assert waited.status_code == 200
    assert waited.json()["status"] == "queued"


async def test_events_stream_replays_the_stored_log_and_resumes(owner: ApiClient) -> None:
    agent = await installed(owner)
    run = await start(owner, {"agent": agent["id"], "input": {"ticket": "t"}})
    await owner.post(f"/api/runs/{run['id']}/cancel")
    response = await owner.get(f"/api/runs/{run['id']}/events")
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = [f for f in response.text.split("\n\n") if f.startswith("id:")]
    assert [f.split("\n")[0] for f in frames] == ["id: 1", "id: 2"]
    resumed = await owner.get(f"/api/runs/{run['id']}/events", headers={"Last-Event-ID": "1"})
    frames = [f for f in resumed.text.split("\n\n") if f.startswith("id:")]
    assert [f.split("\n")[0] for f in frames] == ["id: 2"]
    assert resumed.text.rstrip().endswith("event: end\ndata: {}")


async def test_another_organization_cannot_see_or_cancel_a_run(
    owner: ApiClient, stranger: ApiClient
) -> None:
    agent = await installed(owner)
    run = await start(owner, {"agent": agent["id"], "input": {"ticket": "t"}})
    for path in ("", "/logs", "/events"):
        response = await stranger.get(f"/api/runs/{run['id']}{path}")
        assert response.status_code == 404, path
    assert (await stranger.post(f"/api/runs/{run['id']}/cancel")).status_code == 404
    assert (await stranger.get("/api/runs")).json()["data"] == []
    refused = await stranger.post("/api/runs", json={"agent": agent["id"], "input": {}})
    assert refused.status_code == 404


async def test_end_user_impersonation_narrows_runs(owner: ApiClient, app: FastAPI) -> None:
    agent = await installed(owner)
    key = await owner.create_key(["end_users:write", "runs:read", "runs:write"])
    async with asgi_client(app, token=key["key"]) as c:
        alice = (await c.post("/api/end-users", json={"external_id": "alice"})).json()
        bob = (await c.post("/api/end-users", json={"external_id": "bob"})).json()
        as_alice = {"Corral-End-User": alice["id"]}
        body = {"agent": agent["id"], "input": {"ticket": "t"}}
        mine = await c.post("/api/runs", json=body, headers=as_alice)
        assert mine.status_code == 201
        assert mine.json()["end_user_id"] == alice["id"]
        for_bob = await c.post("/api/runs", json={**body, "end_user": bob["id"]}, headers=as_alice)
        assert for_bob.json()["code"] == "impersonation_forbidden"
        theirs = await c.post("/api/runs", json={**body, "end_user": bob["id"]})
        assert theirs.status_code == 201
        seen = (await c.get("/api/runs", headers=as_alice)).json()["data"]
        assert [r["id"] for r in seen] == [mine.json()["id"]]
        hidden = await c.get(f"/api/runs/{theirs.json()['id']}", headers=as_alice)
        assert hidden.status_code == 404


async def test_idempotency_key_returns_the_same_run(owner: ApiClient) -> None:
    agent = await installed(owner)
    body = {"agent": agent["id"], "input": {"ticket": "t"}}
    headers = {"Idempotency-Key": "run-once-1"}
    first = await owner.post("/api/runs", json=body, headers=headers)
    second = await owner.post("/api/runs", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert len((await owner.get("/api/runs")).json()["data"]) == 1
