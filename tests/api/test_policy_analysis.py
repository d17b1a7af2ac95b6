"""Templates, the conflict report and simulation over stored spans, through the API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI

from corral.container import Container
from corral.governance.templates import TEMPLATES
from tests.api.test_policies import audit_actions, create, policy
from tests.clients import ApiClient, asgi_client
from tests.telemetry import otlp_builders as otlp

PROTOBUF = {"Content-Type": "application/x-protobuf"}
# Spans are ingested at otlp.START (November 2023); windows are placed around it.
WINDOW = {"since": "2023-11-14T00:00:00Z", "until": "2023-11-16T00:00:00Z"}


async def test_templates_catalog(owner: ApiClient) -> None:
    response = await owner.get("/api/policies/templates")
    assert response.status_code == 200
    listed = response.json()
    assert [t["id"] for t in listed] == [t.id for t in TEMPLATES]
    shell = next(t for t in listed if t["id"] == "block-shell-tools")
    assert {"id": "ASI05", "title": "Unexpected Code Execution"} in shell["owasp"]
    assert shell["action"] == "block"
    asi06 = (await owner.get("/api/policies/templates", params={"owasp": "ASI06"})).json()
    assert [t["id"] for t in asi06] == ["memory-poisoning"]
    by_category = await owner.get("/api/policies/templates", params={"category": "financial"})
    assert [t["id"] for t in by_category.json()] == ["payment-approval"]


async def test_policy_from_template(owner: ApiClient, app: FastAPI) -> None:
    made = await owner.post("/api/policies/from-template/block-shell-tools")
    assert made.status_code == 201, made.text
    body = made.json()
    template = next(t for t in TEMPLATES if t.id == "block-shell-tools")
    assert (body["name"], body["expression"]) == (template.name, template.expression)
    assert body["applies_to"] == list(template.applies_to)
    assert made.headers["etag"] == '"1"'

    custom = await owner.post(
        "/api/policies/from-template/block-shell-tools",
        json={"name": "shell, shadowed", "shadow": True, "priority": 7},
    )
    assert custom.status_code == 201, custom.text
    assert (custom.json()["shadow"], custom.json()["priority"]) == (True, 7)
    taken = await owner.post("/api/policies/from-template/block-shell-tools")
    assert taken.status_code == 409
    broken = await owner.post(
        "/api/policies/from-template/block-shell-tools",
        json={"name": "x", "expression": "name +"},
    )
    assert broken.status_code == 400
    assert broken.json()["code"] == "policy_invalid"
    missing = await owner.post("/api/policies/from-template/no-such-template")
    assert missing.status_code == 404
    assert missing.json()["code"] == "policy_template_not_found"
    bad_field = await owner.post(
        "/api/policies/from-template/block-shell-tools", json={"surprise": 1}
    )
    assert bad_field.status_code == 422
    assert (await audit_actions(app)).count("policy.created") == 2


async def test_conflict_report(owner: ApiClient, stranger: ApiClient) -> None:
    allow_all = await create(
        owner, name="allow all", action="allow", expression="true", applies_to=[], priority=100
    )
    below = await create(owner, name="too late", priority=1)
    await create(owner, name="disabled", priority=1, enabled=False, expression="false")
    report = (await owner.get("/api/policies/conflicts")).json()
    assert report["policies"] == 2
    [finding] = [c for c in report["conflicts"] if below["id"] in c["policy_ids"]]
    assert finding["policy_ids"] == [allow_all["id"], below["id"]]
    assert finding["policy_names"] == ["allow all", "too late"]
    assert finding["severity"] in {"error", "warning"}
    assert (await stranger.get("/api/policies/conflicts")).json() == {
        "policies": 0,
        "conflicts": [],
    }


def _tool_span(index: int, command: str, *, start_offset_s: int = 0) -> Any:
    return otlp.span(
        name=f"execute_tool shell {index}",
        span_id=index.to_bytes(8, "big"),
        attributes={
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "shell",
            "corral.tool.args": json.dumps({"command": command}),
            "gen_ai.agent.name": "ops-bot" if index % 2 else "helper",
        },
        start=otlp.START + start_offset_s * 1_000_000_000 + index * 1000,
        end=otlp.START + start_offset_s * 1_000_000_000 + index * 1000 + 500,
    )


@pytest.fixture
async def recorded(owner: ApiClient, app: FastAPI) -> AsyncIterator[ApiClient]:
    """Ten recorded shell calls (three of them destructive) and a client that may simulate."""
    key = await owner.create_key(["traces:write", "traces:read", "policies:read"])
    commands = [
        "ls",
        "rm -rf /tmp/x",
        "cat a",
        "rm -rf /",
        "pwd",
        "echo",
        "rm -rf ~",
        "id",
        "df",
        "w",
    ]
    spans = [_tool_span(i + 1, command) for i, command in enumerate(commands)]
    async with asgi_client(app, token=key["key"]) as c:
        body = otlp.request(spans).SerializeToString()
        assert (await c.post("/v1/traces", content=body, headers=PROTOBUF)).status_code == 200
        container: Container = app.state.container
        await asyncio.wait_for(container.ingest.flush(), 10)
        yield c


async def test_simulate_a_draft(recorded: ApiClient) -> None:
    draft = policy(name="no rm", expression='args.command.startsWith("rm -rf")')
    response = await recorded.post(
        "/api/policies/simulate", json={"policy": draft, **WINDOW, "sample_limit": 2}
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["total"], result["matched"], result["errored"]) == (10, 3, 0)
    assert result["match_rate"] == pytest.approx(0.3)
    assert result["by_action"] == {"block": 3, "allow": 7}
    assert result["by_policy"] == {"draft": 3}
    assert result["truncated"] is False
    assert result["uses_redacted_data"] is True
    assert len(result["samples"]) == 2
    sample = result["samples"][0]
    assert sample["span"]["call_name"] == "tool.shell"
    assert json.loads(sample["span"]["attributes"]["corral.tool.args"])["command"].startswith(
        "rm -rf"
    )
    assert (sample["decision"]["action"], sample["decision"]["policy_id"]) == ("block", "draft")

    agent = await recorded.post(
        "/api/policies/simulate", json={"policy": draft, **WINDOW, "agent": "ops-bot"}
    )
    assert agent.json()["total"] == 5
    limited = await recorded.post(
        "/api/policies/simulate", json={"policy": draft, **WINDOW, "limit": 4}
    )
    assert (limited.json()["total"], limited.json()["truncated"]) == (4, True)
    outside = await recorded.post(
        "/api/policies/simulate",
        json={"policy": draft, "since": "2024-01-01T00:00:00Z", "until": "2024-01-02T00:00:00Z"},
    )
    assert outside.json()["total"] == 0
    no_tools = await recorded.post(
        "/api/policies/simulate", json={"policy": draft, **WINDOW, "categories": ["llm"]}
    )
    assert no_tools.json()["total"] == 0


async def test_simulate_stored_policies_and_the_whole_set(
    owner: ApiClient, recorded: ApiClient
) -> None:
    stored = await create(
        owner, name="no rm", expression='args.command.contains("rm")', enabled=False
    )
    by_id = await recorded.post(
        "/api/policies/simulate", json={"policy_ids": [stored["id"]], **WINDOW}
    )
    assert by_id.status_code == 200, by_id.text
    assert by_id.json()["by_policy"] == {stored["id"]: 3}

    await create(owner, name="allow ls", action="allow", expression='args.command == "ls"')
    await owner.put("/api/policies/settings", json={"default_posture": "deny"})
    draft = policy(name="allow pwd", action="allow", expression='args.command == "pwd"')
    whole = await recorded.post(
        "/api/policies/simulate", json={"policy": draft, "with_current": True, **WINDOW}
    )
    assert whole.json()["by_action"] == {"allow": 2, "block": 8}

    unknown = "pol_0000000000000000000000000z"
    missing = await recorded.post(
        "/api/policies/simulate", json={"policy_ids": [stored["id"], unknown], **WINDOW}
    )
    assert missing.status_code == 404
    assert missing.json()["missing"] == [unknown]


async def test_simulation_refusals(owner: ApiClient, recorded: ApiClient, app: FastAPI) -> None:
    draft = policy()
    for body in [
        {},
        {"policy": draft, "policy_ids": ["pol_x"]},
        {"policy_ids": ["pol_x"], "with_current": True},
        {"policy": draft, "limit": 10_001},
        {"policy": draft, "since": "2024-01-02T00:00:00Z", "until": "2024-01-01T00:00:00Z"},
    ]:
        response = await recorded.post("/api/policies/simulate", json=body)
        assert response.status_code == 422, (body, response.text)
    invalid = await recorded.post(
        "/api/policies/simulate", json={"policy": policy(expression="name ==")}
    )
    assert invalid.status_code == 400
    assert invalid.json()["problems"][0]["column"] == 8
    no_traces = await owner.create_key(["policies:read"])
    async with asgi_client(app, token=no_traces["key"]) as c:
        refused = await c.post("/api/policies/simulate", json={"policy": draft})
        assert refused.status_code == 403


async def test_simulation_reads_only_the_callers_spans(
    recorded: ApiClient, stranger: ApiClient, owner: ApiClient
) -> None:
    draft = policy(name="all", expression="true", applies_to=[])
    theirs = await stranger.post("/api/policies/simulate", json={"policy": draft, **WINDOW})
    assert theirs.status_code == 200
    assert theirs.json()["total"] == 0
    mine = await create(owner)
    foreign = await stranger.post(
        "/api/policies/simulate", json={"policy_ids": [mine["id"]], **WINDOW}
    )
    assert foreign.status_code == 404
