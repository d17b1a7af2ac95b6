"""Building blocks of the tool gateway tests: runs, connections, policies, the event sink."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from corral.agents.manifest import Manifest
from corral.container import Container
from corral.core.egress.client import EgressClient, EgressPolicy
from corral.governance.models import DecisionRecord
from corral.runs.sidecar.contracts import Assignment, EventKind, SidecarRun, ToolOutcome
from corral.runs.sidecar.tool_approvals import ApprovalGate
from corral.runs.sidecar.tool_gateway import HttpToolGateway
from tests.clients import ApiClient
from tests.local_http import Answer, LocalServer, Received, network, serving
from tests.traces.support import container_of

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
ROOT_SPAN_ID = "b7ad6b7169203331"


@dataclass
class RecordingSink:
    """The executor's side of `EventSink`: keeps what the gateway reports."""

    events: list[tuple[EventKind, dict[str, Any]]] = field(default_factory=list)

    async def emit(self, kind: EventKind, data: Mapping[str, Any]) -> None:
        self.events.append((kind, dict(data)))

    def tool_calls(self) -> list[dict[str, Any]]:
        return [data for kind, data in self.events if kind == "tool_call"]

    def dumped(self) -> str:
        return json.dumps(self.events)


def make_run(
    client: ApiClient,
    tools: list[dict[str, Any]],
    *,
    end_user_id: str | None = None,
    run_id: str = "run_test",
) -> SidecarRun:
    manifest = Manifest.model_validate(
        {
            "name": "helper",
            "version": "1.0.0",
            "model": {"provider": "scripted", "turns": [{"text": "done"}]},
            "tools": tools,
        }
    )
    assignment = Assignment(
        run_id=run_id,
        model="scripted",
        prompt="help",
        skills=(),
        input={},
        output_schema=None,
        tools=(),
        timeout_seconds=60,
    )
    return SidecarRun(
        run_id=run_id,
        org_id=client.org_id,
        application_id=client.app_id,
        agent_id=None,
        agent_name="helper",
        end_user_id=end_user_id,
        trace_id=TRACE_ID,
        manifest=manifest,
        assignment=assignment,
        root_span_id=ROOT_SPAN_ID,
    )


async def create_connection(
    client: ApiClient,
    auth: dict[str, Any],
    authorized_uris: list[str],
    *,
    name: str = "crm",
    end_user_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "auth": auth, "authorized_uris": authorized_uris}
    if end_user_id is not None:
        body["end_user_id"] = end_user_id
    response = await client.post("/api/connections", json=body, headers=headers or {})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def create_policy(client: ApiClient, **fields: Any) -> dict[str, Any]:
    body = {"priority": 10, "expression": "true", **fields}
    response = await client.post("/api/policies", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def create_end_user(client: ApiClient, external_id: str) -> str:
    response = await client.post("/api/end-users", json={"external_id": external_id})
    assert response.status_code == 201, response.text
    end_user_id: str = response.json()["id"]
    return end_user_id


async def recorded_decisions(container: Container) -> list[DecisionRecord]:
    async with container.sessions() as session:
        return list(await session.scalars(select(DecisionRecord).order_by(DecisionRecord.id)))


def echo(received: Received) -> Answer:
    """Answers with what arrived: a server that reflects the credential back."""
    body = {"path": received.path, "headers": received.headers, "body": received.body.decode()}
    return Answer(200, {"Content-Type": "application/json"}, json.dumps(body).encode())


@dataclass
class Harness:
    """A gateway on the app's container, a local tool server it may reach, and the sink."""

    container: Container
    gateway: HttpToolGateway
    server: LocalServer
    sink: RecordingSink

    async def call(
        self, run: SidecarRun, tool: str, arguments: dict[str, Any] | None = None
    ) -> ToolOutcome:
        return await self.gateway.call(run, tool, arguments or {}, self.sink)


@asynccontextmanager
async def open_harness(
    app: FastAPI,
    *,
    policy: EgressPolicy | None = None,
    approvals: ApprovalGate | None = None,
) -> AsyncIterator[Harness]:
    """Only the tool server's address is allowed (not loopback as a whole), unless `policy`."""
    container = container_of(app)
    with serving("127.0.0.1") as server:
        egress = EgressClient(
            policy=policy or EgressPolicy(allowed_networks=(network("127.0.0.1"),))
        )
        gateway = HttpToolGateway(
            sessions=container.sessions,
            keyring=container.keyring,
            decider=container.decider,
            egress=egress,
            approvals=approvals,
        )
        try:
            yield Harness(container, gateway, server, RecordingSink())
        finally:
            await egress.aclose()
