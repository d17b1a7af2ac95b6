"""`POST /api/decisions` (contract 2), decision evidence from the API and from spans
(contract 3), the per-application policy cache across replicas, and the metrics."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from structlog.testing import capture_logs

from corral.api.app import create_app
from corral.container import Container
from tests.api.test_policies import create
from tests.clients import ApiClient, asgi_client
from tests.conftest import make_settings
from tests.telemetry import otlp_builders as otlp

SHELL = "tool.shell"


def shell(command: str, **attrs: Any) -> dict[str, Any]:
    return {
        "name": SHELL,
        "attributes": {
            "gen_ai.tool.name": "shell",
            "corral.tool.args": json.dumps({"command": command}),
            **attrs,
        },
    }


@pytest.fixture
async def agent(owner: ApiClient, app: FastAPI) -> AsyncIterator[ApiClient]:
    """A client holding the scopes an agent's key has."""
    key = await owner.create_key(["decisions:write", "policies:read", "traces:write"])
    async with asgi_client(app, token=key["key"]) as c:
        yield c


async def decide(client: ApiClient, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    response = await client.post("/api/decisions", json=body, **kwargs)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def metric(client: ApiClient, line_start: str) -> float:
    text = (await client.get("/metrics")).text
    values = [
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_start)
    ]
    return sum(values)


async def test_block_allow_and_the_contract_shape(owner: ApiClient, agent: ApiClient) -> None:
    blocker = await create(owner)
    blocked = await decide(agent, shell("rm -rf /"))
    assert set(blocked) == {
        "decision_id",
        "action",
        "policy_id",
        "policy_name",
        "message",
        "replacement",
        "retry_after_seconds",
        "code",
        "halt_id",
    }
    assert blocked["action"] == "block"
    assert (blocked["policy_id"], blocked["policy_name"]) == (blocker["id"], "no shell")
    assert blocked["message"] == "no deleting"
    assert blocked["decision_id"].startswith("dec_")

    allowed = await decide(agent, shell("ls"))
    assert allowed == {
        "decision_id": None,
        "action": "allow",
        "policy_id": None,
        "policy_name": None,
        "message": None,
        "replacement": None,
        "retry_after_seconds": None,
        "code": None,
        "halt_id": None,
    }
    # A NUL cannot hide the rest of an argument from a policy.
    hidden = await decide(agent, shell("ls\u0000; rm -rf /"))
    assert hidden["action"] == "block"
    evidence = (await agent.get("/api/decisions")).json()["data"]
    assert [e["decision_id"] for e in evidence] == [hidden["decision_id"], blocked["decision_id"]]
    assert "\x00" not in json.dumps(evidence)


async def test_every_action(owner: ApiClient, agent: ApiClient) -> None:
    await create(
        owner,
        name="steer search",
        action="steer",
        expression="true",
        applies_to=["tool.search"],
        action_config={"replacement": {"results": []}, "message": "use the cache"},
    )
    await create(
        owner,
        name="two sends a minute",
        action="throttle",
        expression="true",
        applies_to=["tool.send_email"],
        action_config={"max_calls": 2, "window_seconds": 60, "scope": "agent"},
    )
    await create(
        owner,
        name="approve payments",
        action="require_approval",
        expression="true",
        applies_to=["tool.pay"],
        action_config={"approvers_required": 2},
    )
    await create(owner, name="log http", action="log", expression="true", applies_to=["tool.http"])

    steered = await decide(agent, {"name": "tool.search", "attributes": {}})
    assert (steered["action"], steered["replacement"]) == ("steer", {"results": []})
    assert steered["message"] == "use the cache"

    email = {"name": "tool.send_email", "attributes": {}, "agent": "mailer"}
    assert (await decide(agent, email))["action"] == "allow"
    assert (await decide(agent, email))["action"] == "allow"
    refused = await agent.post("/api/decisions", json=email)
    assert refused.status_code == 200
    throttled = refused.json()
    assert throttled["action"] == "throttle"
    assert 0 < throttled["retry_after_seconds"] <= 30
    assert refused.headers["retry-after"] == "30"
    # Buckets are per agent by default.
    assert (await decide(agent, {**email, "agent": "other"}))["action"] == "allow"

    approval = await decide(agent, {"name": "tool.pay", "attributes": {}})
    assert approval["action"] == "require_approval"
    logged = await decide(agent, {"name": "tool.http", "attributes": {}})
    assert (logged["action"], logged["policy_id"]) == ("allow", None)
    assert logged["decision_id"] is not None

    admitted = (await agent.get("/api/decisions", params={"action": "allow"})).json()["data"]
    by_call = {e["call_name"]: e for e in admitted}
    assert by_call["tool.http"]["matched"][0]["action"] == "log"
    # An admitted throttle is evidence too.
    assert by_call["tool.send_email"]["matched"][0]["throttle_admitted"] is True


async def test_default_posture_deny(owner: ApiClient, agent: ApiClient) -> None:
    await owner.put("/api/policies/settings", json={"default_posture": "deny"})
    denied = await decide(agent, {"name": "tool.anything", "attributes": {}})
    assert (denied["action"], denied["policy_id"]) == ("block", None)
    assert "default posture is deny" in denied["message"]
    await create(
        owner, name="allow reads", action="allow", expression="true", applies_to=["tool.read"]
    )
    assert (await decide(agent, {"name": "tool.read", "attributes": {}}))["action"] == "allow"


async def test_evaluation_errors_fail_closed_and_are_counted(
    owner: ApiClient, agent: ApiClient
) -> None:
    broken = await create(
        owner, name="needs url", expression='url_host(args.url) == "evil.example"'
    )
    before = await metric(agent, 'corral_policy_evaluation_errors_total{source="api"}')
    answer = await decide(agent, shell("ls"))
    assert (answer["action"], answer["policy_id"]) == ("block", broken["id"])
    assert "fails closed" in answer["message"]
    after = await metric(agent, 'corral_policy_evaluation_errors_total{source="api"}')
    assert after == before + 1
    [row] = (await agent.get("/api/decisions")).json()["data"]
    assert row["errors"][0]["failed_closed"] is True
    assert row["errors"][0]["policy_id"] == broken["id"]


async def test_decision_metrics(owner: ApiClient, agent: ApiClient) -> None:
    await create(owner)
    await decide(agent, shell("rm -rf /"))
    await decide(agent, shell("ls"))
    await decide(agent, shell("ls"))
    blocks = await metric(agent, 'corral_policy_decisions_total{action="block",source="api"}')
    allows = await metric(agent, 'corral_policy_decisions_total{action="allow",source="api"}')
    assert (blocks, allows) == (1, 2)


async def test_evidence_filters(owner: ApiClient, agent: ApiClient) -> None:
    blocker = await create(owner)
    logger = await create(owner, name="log shell", action="log", expression="true", priority=99)
    shadow = await create(owner, name="shadow", expression="true", shadow=True, priority=100)
    first = await decide(agent, {**shell("rm -rf /"), "agent": "a1", "end_user": "u1"})
    second = await decide(agent, {**shell("ls"), "agent": "a2"})
    third = await decide(
        agent,
        shell("ls", **{"gen_ai.agent.name": "from-attrs", "corral.end_user.id": "u2"}),
        headers={"traceparent": "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"},
    )

    async def ids(**params: Any) -> list[str]:
        response = await agent.get("/api/decisions", params=params)
        assert response.status_code == 200, response.text
        return [e["decision_id"] for e in response.json()["data"]]

    everything = [third["decision_id"], second["decision_id"], first["decision_id"]]
    assert await ids() == everything
    assert await ids(policy_id=blocker["id"]) == [first["decision_id"]]
    # A log policy and a shadow policy took part in every decision without deciding any.
    assert await ids(policy_id=logger["id"]) == everything
    assert await ids(policy_id=shadow["id"]) == everything
    assert await ids(action="block") == [first["decision_id"]]
    assert await ids(agent="a2") == [second["decision_id"]]
    assert await ids(agent="from-attrs") == [third["decision_id"]]
    assert await ids(end_user="u1") == [first["decision_id"]]
    assert await ids(end_user="u2") == [third["decision_id"]]
    assert await ids(source="sdk") == []
    assert await ids(since="2000-01-01T00:00:00Z") == everything
    assert await ids(until="2000-01-01T00:00:00Z") == []
    page = (await agent.get("/api/decisions", params={"limit": 2})).json()
    rest = await ids(limit=2, cursor=page["next_cursor"])
    assert [e["decision_id"] for e in page["data"]] + rest == everything
    [traced] = (await agent.get("/api/decisions", params={"end_user": "u2"})).json()["data"]
    assert (traced["trace_id"], traced["span_id"]) == ("ab" * 16, "cd" * 8)
    assert traced["shadow_policy_ids"] == [shadow["id"]]
    assert traced["source"] == "api"


async def test_scopes_and_impersonation(owner: ApiClient, app: FastAPI) -> None:
    await create(owner, expression="true", applies_to=["tool.*"])
    read_only = await owner.create_key(["policies:read"])
    async with asgi_client(app, token=read_only["key"]) as c:
        refused = await c.post("/api/decisions", json=shell("ls"))
        assert refused.status_code == 403
    write_only = await owner.create_key(["decisions:write"])
    async with asgi_client(app, token=write_only["key"]) as c:
        assert (await c.get("/api/decisions")).status_code == 403

    eu = (await owner.post("/api/end-users", json={"external_id": "x"})).json()["id"]
    key = await owner.create_key(["decisions:write", "policies:read"])
    acting = {"Corral-End-User": eu}
    async with asgi_client(app, token=key["key"]) as c:
        mine = await decide(c, shell("ls"), headers=acting)
        other = await c.post(
            "/api/decisions", json={**shell("ls"), "end_user": "someone"}, headers=acting
        )
        assert other.status_code == 403
        await decide(c, {**shell("ls"), "end_user": "someone"})
        visible = (await c.get("/api/decisions", headers=acting)).json()["data"]
        assert [(e["decision_id"], e["end_user"]) for e in visible] == [(mine["decision_id"], eu)]
        assert len((await c.get("/api/decisions")).json()["data"]) == 2


async def test_replicas_see_each_others_changes(
    owner: ApiClient, app: FastAPI, tmp_path: Path, database_url: str
) -> None:
    """Two servers on one database: a change through one is in force on the other at once."""
    other = create_app(make_settings(tmp_path / "replica", database_url))
    key = await owner.create_key(["decisions:write"])
    async with other.router.lifespan_context(other), asgi_client(other, token=key["key"]) as c:
        assert (await decide(c, shell("rm -rf /")))["action"] == "allow"
        blocker = await create(owner)
        assert (await decide(c, shell("rm -rf /")))["action"] == "block"
        await owner.patch(f"/api/policies/{blocker['id']}", json={"enabled": False})
        assert (await decide(c, shell("rm -rf /")))["action"] == "allow"
        await owner.put("/api/policies/settings", json={"default_posture": "deny"})
        assert (await decide(c, shell("ls")))["action"] == "block"
        container: Container = other.state.container
        builds = container.policy_sets.builds
        await decide(c, shell("ls"))
        assert container.policy_sets.builds == builds, "unchanged policies are not recompiled"


async def _flush(app: FastAPI) -> None:
    container: Container = app.state.container
    await asyncio.wait_for(container.ingest.flush(), 10)


def _decision_span(span_id: bytes, **decision: Any) -> bytes:
    attributes = {
        "gen_ai.tool.name": "shell",
        "gen_ai.agent.name": "planner",
        "corral.end_user.id": "eu-9",
        **{f"corral.decision.{k}": v for k, v in decision.items()},
    }
    request = otlp.request([otlp.span(name="tool.shell", span_id=span_id, attributes=attributes)])
    body: bytes = request.SerializeToString()
    return body


async def test_decisions_on_ingested_spans_become_evidence(agent: ApiClient, app: FastAPI) -> None:
    protobuf = {"Content-Type": "application/x-protobuf"}
    body = _decision_span(
        b"\x01" * 8,
        action="block",
        id="sdk-decision-1",
        policy_id="pol_remote",
        policy_name="no shell",
        message="blocked by policy no shell",
        shadow_policy_ids=["pol_shadow_1", "pol_shadow_2"],
        matched_policy_ids=["pol_logged"],
        error_policy_ids=["pol_broken"],
        source="sdk",
    )
    before = await metric(agent, 'corral_policy_decisions_total{action="block",source="sdk"}')
    for _ in range(2):  # an exporter retry records nothing twice
        assert (await agent.post("/v1/traces", content=body, headers=protobuf)).status_code == 200
        await _flush(app)
    plain = _decision_span(b"\x02" * 8)
    assert (await agent.post("/v1/traces", content=plain, headers=protobuf)).status_code == 200
    no_id = _decision_span(b"\x03" * 8, action="steer", source="sidecar")
    assert (await agent.post("/v1/traces", content=no_id, headers=protobuf)).status_code == 200
    await _flush(app)

    rows = (await agent.get("/api/decisions")).json()["data"]
    by_id = {row["decision_id"]: row for row in rows}
    assert set(by_id) == {"sdk-decision-1", f"span:{otlp.TRACE_ID.hex()}:{'03' * 8}"}
    sdk = by_id["sdk-decision-1"]
    assert (sdk["source"], sdk["action"], sdk["call_name"]) == ("sdk", "block", "tool.shell")
    assert (sdk["agent"], sdk["end_user"]) == ("planner", "eu-9")
    assert (sdk["policy_id"], sdk["policy_name"]) == ("pol_remote", "no shell")
    assert sdk["shadow_policy_ids"] == ["pol_shadow_1", "pol_shadow_2"]
    assert (sdk["trace_id"], sdk["span_id"]) == (otlp.TRACE_ID.hex(), "01" * 8)
    assert by_id[f"span:{otlp.TRACE_ID.hex()}:{'03' * 8}"]["source"] == "sidecar"
    shadowed = (await agent.get("/api/decisions", params={"policy_id": "pol_shadow_2"})).json()
    assert [r["decision_id"] for r in shadowed["data"]] == ["sdk-decision-1"]
    assert sdk["matched"] == [{"policy_id": "pol_logged"}]
    assert sdk["errors"] == [{"policy_id": "pol_broken"}]
    for policy_id in ("pol_logged", "pol_broken"):
        linked = (await agent.get("/api/decisions", params={"policy_id": policy_id})).json()
        assert [r["decision_id"] for r in linked["data"]] == ["sdk-decision-1"]
    after = await metric(agent, 'corral_policy_decisions_total{action="block",source="sdk"}')
    assert after == before + 1


async def test_a_span_of_an_api_decision_adds_its_trace(
    owner: ApiClient, agent: ApiClient, app: FastAPI
) -> None:
    await create(owner)
    answer = await decide(agent, shell("rm -rf /"))
    body = _decision_span(b"\x04" * 8, action="block", id=answer["decision_id"], source="api")
    response = await agent.post(
        "/v1/traces", content=body, headers={"Content-Type": "application/x-protobuf"}
    )
    assert response.status_code == 200
    await _flush(app)
    [row] = (await agent.get("/api/decisions")).json()["data"]
    assert row["decision_id"] == answer["decision_id"]
    assert (row["trace_id"], row["span_id"]) == (otlp.TRACE_ID.hex(), "04" * 8)


async def test_a_burst_of_recorded_decisions_all_succeed(
    owner: ApiClient, agent: ApiClient
) -> None:
    # More concurrent requests than the request pool has connections, each writing evidence
    # while its request holds a connection: the evidence must not wait on that pool.
    await create(owner, name="log every shell", action="log", expression="true")
    answers = await asyncio.gather(
        *(agent.post("/api/decisions", json=shell(f"echo {n}")) for n in range(40))
    )
    assert [a.status_code for a in answers] == [200] * 40
    recorded = {a.json()["decision_id"] for a in answers}
    assert None not in recorded
    assert len(recorded) == 40


async def test_an_alert_is_logged_and_recorded_without_refusing(
    owner: ApiClient, agent: ApiClient
) -> None:
    alerting = await create(
        owner,
        name="alert on deletes",
        action="alert",
        action_config={"message": "someone deletes things"},
    )
    with capture_logs() as logs:
        answer = await decide(agent, shell("rm -rf /tmp/x"))
    assert answer["action"] == "allow"
    assert answer["decision_id"] is not None
    [alert] = [e for e in logs if e["event"] == "policy.alert"]
    assert (alert["policy_id"], alert["alert_message"]) == (
        alerting["id"],
        "someone deletes things",
    )
    assert alert["decision_id"] == answer["decision_id"]
    recorded = (await agent.get("/api/decisions", params={"policy_id": alerting["id"]})).json()
    assert [r["decision_id"] for r in recorded["data"]] == [answer["decision_id"]]
